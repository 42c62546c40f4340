"""``flowstacks synth --jobs N``: the stacks of one synth in parallel processes.

Each stack is synthesized in a process of its own, forked from the one that loaded the project
(config and flows read once, the installed Metaflow compressed once for every code package), at
most ``jobs`` at a time. A child writes its stack into the staging folder and sends back the
summary, or the error it met; the parent waits for every child, so that the errors of all the
stacks are reported together, and moves the output into place only when none failed (all or
nothing, as with one process). A forked child ends when its stack is done, so its memory goes
with it (the sum over processes stays close to one process doing the stacks one by one).

``FLOWSTACKS_SYNTH_START=spawn`` (or ``forkserver``) starts the children afresh instead: each
imports flowstacks and reads the project again (slower by the imports and the project read; for
measurements, see ``benchmarks/``).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from flowstacks.errors import FlowstacksError

if TYPE_CHECKING:
    from flowstacks.load.project import ProjectDir
    from flowstacks.synth.engine import StackResult

START_METHOD_ENV = "FLOWSTACKS_SYNTH_START"


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class StackFailed(FlowstacksError):
    """A user error met by a stack's child process, as that process rendered it."""

    def __init__(self, stack: str, rendered: str):
        super().__init__(rendered, where=f"stack {stack}")
        self.stack, self.rendered = stack, rendered

    def render(self) -> str:
        return self.rendered


class StacksFailed(FlowstacksError):
    """The user errors of several stacks, each as its own process rendered it."""

    def __init__(self, failures: list[StackFailed]):
        super().__init__(f"{len(failures)} stacks failed: "
                         + ", ".join(f.stack for f in failures), where="flowstacks synth")
        self.failures = failures

    def render(self) -> str:
        lines = [f"Error: {len(self.failures)} stacks failed, nothing was written"]
        for failure in self.failures:
            lines.append(f"stack {failure.stack}:")
            lines += [f"  {line}" for line in failure.rendered.splitlines()]
        return "\n".join(lines)


class StackCrashed(RuntimeError):
    """A bug met by one or more stacks' processes (their tracebacks in the message)."""


def _child(conn: Any, project: "ProjectDir | tuple[Path, str | None]", stack: str,
           orchestrator: str | None, folder: Path, preview: bool = False) -> None:
    """Synthesize ``stack`` into ``folder``; send ``("ok", summary)``, ``("error", rendered)``
    for a user error or ``("crash", traceback)``."""
    import asyncio

    from flowstacks.synth.engine import synth_stack, write_stack

    try:
        # A forked child has the parent's event loop, whose executor threads did not come
        # along (a run before the fork started them): the SDK's registrations would wait on
        # them for ever. The child's runs get a loop of their own.
        asyncio.set_event_loop(asyncio.new_event_loop())
        from flowstacks.synth import sdk_shortcuts

        sdk_shortcuts.COLLECT_AFTER_RUN = False  # this process ends after its stack
        if isinstance(project, tuple):  # spawned: read the project again
            from flowstacks.load.project import ProjectDir

            project = ProjectDir(*project)
        result = synth_stack(project, stack, orchestrator, folder, preview=preview)
        write_stack(result, folder)
        message: tuple[str, Any] = ("ok", result.summary())
    except FlowstacksError as exc:
        message = ("error", exc.render())
    except BaseException:  # noqa: BLE001 - reported by the parent, with the traceback
        message = ("crash", traceback.format_exc())
    conn.send(message)
    conn.close()


def synth_parallel(project: "ProjectDir", stacks: list[str], staging: Path,
                   orchestrator: str | None, jobs: int,
                   on_stack: Callable[[str], None] | None = None, preview: bool = False
                   ) -> list["StackResult"]:
    """Synthesize ``stacks`` into ``staging/<stack>/``, at most ``jobs`` processes at a time;
    the summaries in the order of ``stacks``. Raises when any stack failed, after all ended."""
    method = os.environ.get(START_METHOD_ENV, "fork")
    context = multiprocessing.get_context(method)
    if method == "fork":
        from flowstacks.deploy.packages import prepare_shared

        prepare_shared(project)  # read and compressed once, inherited by every child
        target: Any = project
    else:
        target = (project.root, project.orchestrator_override)
    todo = list(stacks)
    running: dict[Any, tuple[str, Any]] = {}  # receiving end -> (stack, process)
    results: dict[str, "StackResult"] = {}
    failures: dict[str, StackFailed] = {}
    crashes: dict[str, str] = {}
    try:
        while todo or running:
            while todo and len(running) < jobs:
                stack = todo.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, name=f"flowstacks-synth-{stack}",
                                          args=(send, target, stack, orchestrator,
                                                staging / stack, preview), daemon=True)
                process.start()
                send.close()  # the child's end: EOF here once the child is gone
                running[receive] = (stack, process)
            for receive in wait(list(running)):
                stack, process = running.pop(receive)
                try:
                    kind, payload = receive.recv()
                except (EOFError, OSError):
                    kind, payload = "crash", "the process ended without a result"
                receive.close()
                process.join()
                if kind == "crash" or (kind == "ok" and process.exitcode not in (0, None)):
                    crashes[stack] = f"{payload}\n(exit code {process.exitcode})"
                elif kind == "error":
                    failures[stack] = StackFailed(stack, payload)
                else:
                    results[stack] = payload
                    if on_stack:
                        on_stack(stack)
    finally:
        for stack, process in running.values():  # interrupted: stop what still runs
            process.terminate()
            process.join()
    if crashes:
        raise StackCrashed("\n".join(f"stack {s} failed:\n{tb}" for s, tb in
                                     sorted(crashes.items(), key=lambda i: stacks.index(i[0]))))
    if failures:
        ordered = [failures[s] for s in stacks if s in failures]
        raise ordered[0] if len(ordered) == 1 else StacksFailed(ordered)
    return [results[s] for s in stacks]
