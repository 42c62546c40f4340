"""``flowstacks synth --jobs N``: the stacks of one synth in parallel processes.

The stacks are synthesized in ``jobs`` processes forked from the one that loaded the project
(config and flows read once, the installed Metaflow compressed once for every code package);
each process takes the next stack when it is done with one. A child writes each stack into the
staging folder and sends back its summary, or the error it met; the parent waits for every
stack, so that the errors of all the stacks are reported together, and moves the output into
place only when none failed (all or nothing, as with one process).

Memory: a forked process's resident set starts with every page of the parent it was forked
from (shared, copied on write, but counted again in each process's RSS), so the sum of the
processes' peak RSS is about (processes + 1) x the parent at the fork plus what each stack adds;
the memory really in use (PSS) is lower. One process per job, not one per stack, keeps that
sum to ``jobs`` + 1 processes whatever the number of stacks.

``FLOWSTACKS_SYNTH_START=spawn`` (or ``forkserver``) starts the children afresh instead: each
imports flowstacks and reads the project again (slower by the imports and the project read; for
measurements, see ``benchmarks/``).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
import warnings
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from flowstacks.errors import FlowstacksError

if TYPE_CHECKING:
    from flowstacks.load.project import ProjectDir
    from flowstacks.synth.engine import StackResult

START_METHOD_ENV = "FLOWSTACKS_SYNTH_START"
_INHERITED: list[Any] = []  # in a stack process: the parent's event loop, never closed here


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


def _child(conn: Any, project: "ProjectDir | tuple[Path, str | None]", orchestrator: str | None,
           staging: Path, preview: bool = False) -> None:
    """A stack process: synthesize each stack the parent sends (``None``: no more) into
    ``staging/<stack>``; send ``("ok", summary)``, ``("error", rendered)`` for a user error or
    ``("crash", traceback)`` (after which it ends) for each."""
    import asyncio
    import gc

    from flowstacks.synth.engine import synth_stack, write_stack

    # A forked child has the parent's event loop, whose executor threads did not come along (a
    # run before the fork started them): the SDK's registrations would wait on them for ever.
    # The child's runs get a loop of their own. The parent's loop is kept referenced, never
    # collected: closing it here would unregister its wake-up pipe from the epoll instance
    # the two processes share, and the parent's next run would wait for ever.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _INHERITED.append(asyncio.get_event_loop_policy().get_event_loop())
    asyncio.set_event_loop(asyncio.new_event_loop())
    from flowstacks.synth import sdk_shortcuts

    # no full collection after each run: before the next stack's run instead (the garbage of
    # the last one goes with the process)
    sdk_shortcuts.COLLECT_AFTER_RUN = False
    runs = 0
    while (stack := conn.recv()) is not None:
        if runs:
            gc.collect()  # the previous run's cycles, before its survivors are frozen again
        runs += 1
        try:
            if isinstance(project, tuple):  # spawned: read the project (once per process)
                from flowstacks.load.project import ProjectDir

                project = ProjectDir(*project)
            result = synth_stack(project, stack, orchestrator, staging / stack, preview=preview)
            write_stack(result, staging / stack)
            message: tuple[str, Any] = ("ok", result.summary())
        except FlowstacksError as exc:
            message = ("error", exc.render())
        except BaseException:  # noqa: BLE001 - reported by the parent, with the traceback
            conn.send(("crash", traceback.format_exc()))
            break
        conn.send(message)
    conn.close()


def synth_parallel(project: "ProjectDir", stacks: list[str], staging: Path,
                   orchestrator: str | None, jobs: int,
                   on_stack: Callable[[str], None] | None = None, preview: bool = False
                   ) -> list["StackResult"]:
    """Synthesize ``stacks`` into ``staging/<stack>/``, in at most ``jobs`` processes, each
    taking the next stack when done with one; the summaries in the order of ``stacks``. Raises
    when any stack failed, after all ended.

    A process serves several stacks (``jobs`` processes for any number of stacks, rather than one
    per stack): each forked process starts with the parent's pages (the project read, the
    imports), which its resident set counts again, so fewer processes hold less in all."""
    method = os.environ.get(START_METHOD_ENV, "fork")
    context = multiprocessing.get_context(method)
    if method == "fork":
        from flowstacks.deploy.packages import prepare_shared

        prepare_shared(project)  # read and compressed once, inherited by every child
        target: Any = project
    else:
        target = (project.root, project.orchestrator_override)
    todo = list(stacks)
    running: dict[Any, tuple[str, Any]] = {}  # parent's end -> (stack it synthesizes, process)
    results: dict[str, "StackResult"] = {}
    failures: dict[str, StackFailed] = {}
    crashes: dict[str, str] = {}

    def start_process() -> None:
        conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(target=_child, name="flowstacks-synth",
                                  args=(child_conn, target, orchestrator, staging, preview),
                                  daemon=True)
        process.start()
        child_conn.close()  # the child's end: EOF here once the child is gone
        give_next(conn, process)

    def give_next(conn: Any, process: Any) -> None:
        stack = todo.pop(0)
        conn.send(stack)
        running[conn] = (stack, process)

    def finish(conn: Any, process: Any, stack: str | None) -> None:
        """Tell a process there is no more (unless it is gone) and wait for its end."""
        try:
            conn.send(None)
        except OSError:
            pass
        conn.close()
        process.join()
        if process.exitcode not in (0, None) and stack is not None and stack not in crashes:
            results.pop(stack, None)
            crashes[stack] = f"the process ended with exit code {process.exitcode}"

    try:
        while todo and len(running) < jobs:
            start_process()
        while running:
            for conn in wait(list(running)):
                stack, process = running.pop(conn)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    kind, payload = "crash", "the process ended without a result"
                if kind == "crash":
                    conn.close()
                    process.join()
                    crashes[stack] = f"{payload}\n(exit code {process.exitcode})"
                    if todo:  # another process takes the stacks still to do
                        start_process()
                    continue
                if kind == "error":
                    failures[stack] = StackFailed(stack, payload)
                else:
                    results[stack] = payload
                    if on_stack:
                        on_stack(stack)
                if todo:
                    give_next(conn, process)
                else:
                    finish(conn, process, stack)
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
