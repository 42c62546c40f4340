"""Run the flowstacks CLI and report the process's own peak RSS (VmHWM, reset by exec, unlike
ru_maxrss of a forked child, which starts from the parent's size) on the last line of stderr."""

import sys

from flowstacks.cli import main


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(f"peak_rss_mb={peak_rss_mb():.1f}", file=sys.stderr)
    sys.exit(code)
