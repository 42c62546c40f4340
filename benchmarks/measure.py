"""Run the flowstacks CLI and report the process's own peak RSS (VmHWM, reset by exec, unlike
ru_maxrss of a forked child, which starts from the parent's size) on the last lines of stderr:
``peak_rss_mb=`` (this process) and ``peak_rss_sum_mb=`` (this process plus every stack
process ``synth --jobs`` forked, each its own VmHWM: shared pages count once per process, so the
sum overstates the memory used)."""

import os
import sys
import tempfile

from flowstacks.cli import main


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _record_children_peaks(folder: str) -> None:
    """Each forked stack process appends its own peak RSS to a file in ``folder``."""
    from flowstacks.synth import parallel

    child = parallel._child

    def measured_child(*args, **kwargs):
        try:
            child(*args, **kwargs)
        finally:
            with open(os.path.join(folder, f"{os.getpid()}.rss"), "w", encoding="ascii") as out:
                out.write(f"{peak_rss_mb()}\n")

    parallel._child = measured_child


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="flowstacks-rss-") as peaks:
        _record_children_peaks(peaks)
        code = main(sys.argv[1:])
        own = peak_rss_mb()
        children = [float(open(os.path.join(peaks, f), encoding="ascii").read())
                    for f in os.listdir(peaks)]
    print(f"peak_rss_mb={own:.1f}", file=sys.stderr)
    print(f"peak_rss_sum_mb={own + sum(children):.1f} children={len(children)}", file=sys.stderr)
    sys.exit(code)
