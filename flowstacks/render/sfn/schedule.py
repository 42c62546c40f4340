"""``@schedule`` as an EventBridge schedule expression EventBridge accepts
(docs/metaflow-contract.md#schedules).

Metaflow 2.19.39 (``ScheduleDecorator.flow_init``, ``StepFunctions._cron``) passes
``@schedule(cron=...)`` to EventBridge as ``cron(<cron>)`` unchanged, so a Unix 5-field cron
(``0 0 * * *``) becomes a rule EventBridge rejects at deploy time. EventBridge takes six fields,
``minutes hours day-of-month month day-of-week year``, with ``?`` in exactly one of
day-of-month and day-of-week, and numbers its days of the week 1-7 from Sunday
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).

The rule flowstacks applies (and states in its errors):

- six fields: taken as EventBridge's own form, and checked: one of day-of-month/day-of-week must
  be ``?`` and not both;
- five fields (Unix cron): ``year`` becomes ``*``; a ``*`` day-of-week becomes ``?``, else a ``*``
  day-of-month becomes ``?``; a cron restricting both (Unix: either matches) has no EventBridge
  equivalent and is refused; day-of-week numbers (0-7, Sunday 0 or 7) become names (``SUN``..
  ``SAT``), which mean the same in both; a step (``/``) in day-of-week is refused (its base
  differs);
- anything else is refused.
"""

from __future__ import annotations

DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # Unix numbers 0..7
FIELDS = "minutes hours day-of-month month day-of-week year"


class CronError(ValueError):
    """A cron expression EventBridge would reject and flowstacks cannot convert."""


def _day(token: str) -> str:
    if token.isdigit():
        n = int(token)
        if n > 7:
            raise CronError(f"day-of-week {token} is not 0-7")
        return DAYS[n]
    return token.upper()


def _unix_days(field: str) -> str:
    """A Unix day-of-week field with its numbers as day names."""
    out = []
    for item in field.split(","):
        if "/" in item:
            raise CronError("a step (/) in day-of-week counts from a different first day in "
                            "EventBridge (1 = Sunday) than in Unix cron (0 = Sunday)")
        if "-" in item:
            first, last = item.split("-", 1)
            if last == "7" and first.isdigit() and int(first) > 0:  # a range ending on Sunday
                out.append(f"{_day(first)}-SAT,SUN" if first != "6" else "SAT,SUN")
                continue
            out.append(f"{_day(first)}-{_day(last)}")
        else:
            out.append(_day(item))
    return ",".join(out)


def eventbridge_cron(cron: str) -> str:
    """The 6-field EventBridge form of ``cron`` (see the module's rule); :class:`CronError`
    says why a cron cannot be expressed."""
    fields = cron.split()
    if len(fields) == 6:
        dom, dow = fields[2], fields[4]
        if (dom == "?") == (dow == "?"):
            raise CronError(f"EventBridge needs '?' in exactly one of day-of-month ({dom}) and "
                            f"day-of-week ({dow}) ({FIELDS})")
        return " ".join(fields)
    if len(fields) != 5:
        raise CronError(f"{len(fields)} fields: EventBridge takes 6 ({FIELDS}) and a Unix "
                        "cron has 5")
    minute, hour, dom, month, dow = fields
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom, dow = "?", _unix_days(dow)
    else:
        raise CronError(f"day-of-month ({dom}) and day-of-week ({dow}) are both restricted: "
                        "Unix cron runs when either matches, EventBridge cannot express that")
    if dom == "?" and dow == "?":
        raise CronError("'?' in both day-of-month and day-of-week")
    return " ".join((minute, hour, dom, month, dow, "*"))
