"""flowstacks benchmark: synth at N = 10, 100, 1,000 flows against Metaflow's own deployers.

    .venv/bin/python benchmarks/bench.py                 # the full run (many minutes)
    .venv/bin/python benchmarks/bench.py --smoke         # N=10, one orchestrator (CI)
    .venv/bin/python benchmarks/bench.py --results benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench.py --sizes 10,100,1000 --jobs1-sizes 10,100 \
        --in-process-sizes 10,100 --profile-size 0      # what fits in a shorter slot

Prints one table and the ratios the targets are stated in (issues 8 and 18): whole
`flowstacks synth` processes (with the default `--jobs`, the cores, and with `--jobs 1`) and
in-process runs, against Metaflow 2.19.39's `step-functions create --only-json`,
`argo-workflows create --only-json` and `airflow create`, side by side in one run on this
machine. Never asserts timings: machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STACKS = ("prod", "prod.b1", "test.b1", "user.bench")
ORCHESTRATORS = ("step-functions", "argo", "airflow")
PROJECT = "bench"

# --- synthetic projects --------------------------------------------------------------------

def _linear(name: str, steps: int, deco: str = "", imports: str = "") -> str:
    body = []
    names = ["start"] + [f"s{i}" for i in range(1, steps - 1)] + ["end"]
    for cur, nxt in zip(names, names[1:]):
        retry = "    @retry\n" if cur.endswith("1") else ""
        body.append(f"{retry}    @step\n    def {cur}(self):\n        self.next(self.{nxt})\n")
    body.append("    @step\n    def end(self):\n        pass\n")
    return (f"from metaflow import FlowSpec, project, retry, step{imports}\n\n\n"
            f"{deco}@project(name='{PROJECT}')\nclass {name}(FlowSpec):\n" + "\n".join(body))


def _foreach(name: str, tail: int) -> str:
    """start -foreach-> work -> join -> t1 ... t<tail> -> end (a foreach body of one step, the
    shape every backend takes, Airflow included)."""
    chain = ["join"] + [f"t{i}" for i in range(1, tail + 1)] + ["end"]
    body = ["    @step\n    def start(self):\n        self.items = [1, 2, 3]\n"
            "        self.next(self.work, foreach='items')\n",
            "    @retry\n    @resources(cpu=2, memory=8192)\n    @step\n    def work(self):\n"
            "        self.next(self.join)\n",
            "    @step\n    def join(self, inputs):\n        self.next(self.%s)\n" % chain[1]]
    for cur, nxt in zip(chain[1:-1], chain[2:]):
        body.append(f"    @step\n    def {cur}(self):\n        self.next(self.{nxt})\n")
    body.append("    @step\n    def end(self):\n        pass\n")
    return (f"from metaflow import FlowSpec, project, resources, retry, step\n\n\n"
            f"@project(name='{PROJECT}')\nclass {name}(FlowSpec):\n" + "\n".join(body))


def _split(name: str, branches: int) -> str:
    arms = ", ".join(f"self.b{i}" for i in range(branches))
    steps = "".join(f"    @step\n    def b{i}(self):\n        self.next(self.join)\n\n" for i in range(branches))
    return (f"from metaflow import FlowSpec, project, step\n\n\n@project(name='{PROJECT}')\n"
            f"class {name}(FlowSpec):\n    @step\n    def start(self):\n        self.next({arms})\n\n"
            f"{steps}    @step\n    def join(self, inputs):\n        self.next(self.end)\n\n"
            f"    @step\n    def end(self):\n        pass\n")


def flow_source(i: int, rng: random.Random) -> tuple[str, str]:
    """A realistic mix: linear, foreach, split/join, scheduled, triggered; 2 to 20 steps."""
    name = f"Bench{i:04d}Flow"
    kind = i % 5
    if kind == 0:
        src = _linear(name, rng.randint(2, 20))
    elif kind == 1:
        src = _foreach(name, rng.randint(0, 16))
    elif kind == 2:
        src = _split(name, rng.randint(2, 16))
    elif kind == 3:
        src = _linear(name, rng.randint(2, 20), "@schedule(hourly=True)\n", ", schedule")
    else:
        up = f"Bench{i - 4:04d}Flow"
        src = _linear(name, rng.randint(2, 20), f"@trigger_on_finish(flow='{up}')\n", ", trigger_on_finish")
    # Metaflow's CLI runs when the module instantiates the flow (`python flow.py ... create`)
    return name, src + f"\n\nif __name__ == '__main__':\n    {name}()\n"


def make_project(root: Path, n: int) -> Path:
    rng = random.Random(n)
    (root / "flowspecs").mkdir(parents=True)
    for i in range(n):
        name, src = flow_source(i, rng)
        (root / "flowspecs" / f"{name.lower()}.py").write_text(src)
    (root / "flowspecs" / "flowstacks_config.py").write_text(textwrap.dedent(f"""\
        from flowstacks.model.config import ProjectConfig, StackSpec
        CONFIG = ProjectConfig(project="{PROJECT}", stacks=[StackSpec(name="prod"),
            StackSpec(name="prod.b1"), StackSpec(name="test.b1")])
        """))
    return root


# --- measurements --------------------------------------------------------------------------

@dataclass
class Row:
    n: int
    orchestrator: str
    mode: str  # process (default --jobs) | process --jobs 1 | in-process
    seconds: float
    deployments: int
    peak_rss_mb: float
    output_mb: float

    @property
    def per_deployment_ms(self) -> float:
        return 1000 * self.seconds / self.deployments


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def synth_process(project: Path, out: Path, orchestrator: str, jobs: int | None = None
                  ) -> tuple[float, float]:
    """Wall time and peak RSS (MB: the process's own VmHWM plus those of the stack processes
    it forked with ``--jobs``) of a whole `flowstacks synth` process over the 4 stacks
    (``jobs`` None: the default, the number of cores)."""
    args = [sys.executable, str(REPO / "benchmarks" / "measure.py"), "synth", "--quiet",
            "--orchestrator", orchestrator, "--out", str(out), "--project-dir", str(project)]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    for stack in STACKS:
        args += ["--stack", stack]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"synth failed for {project}: {proc.stderr[-2000:]}")
    figures = [line for line in proc.stderr.splitlines() if line.startswith("peak_rss_sum_mb=")]
    if not figures:
        raise RuntimeError(f"measure.py printed no peak_rss_sum_mb= line; its stderr: {proc.stderr[-2000:]}")
    return elapsed, float(figures[-1].split("=", 1)[1].split()[0])


def fresh_process_state() -> None:
    """What a new `flowstacks synth` process starts without: flows read and packages built by
    earlier in-process runs (imports and the compressed installed Metaflow stay, as warm-up)."""
    import gc

    from flowstacks.deploy import packages
    from flowstacks.load import flows

    for cache in (flows._FLOWS, flows._RESOLVED, packages._FOLDERS, packages._PACKAGES):
        cache.clear()
    for name in [m for m in sys.modules if m.startswith("_flowstacks_flow_")]:
        del sys.modules[name]
    gc.collect()


def synth_in_process(project: Path, out: Path, orchestrator: str, profile: bool = False
                     ) -> tuple[float, str | None]:
    """One synth in this process, timed from the state of a fresh process after its imports
    (no flow or package of an earlier run)."""
    from flowstacks.synth.engine import synth

    fresh_process_state()

    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    synth(project, list(STACKS), out, orchestrator)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - start
    text = None
    if profiler:
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
        text = buf.getvalue()
    return elapsed, text


def child_main(project: Path, out: Path, orchestrator: str, profile: Path | None) -> int:
    """``--child``: import, warm up on a 2-flow project, then time one synth of ``project``;
    the last line of stdout is JSON with the seconds and this process's peak RSS."""
    with tempfile.TemporaryDirectory(prefix="flowstacks-warm-") as tmp:
        warm = make_project(Path(tmp) / "warm-up", 2)
        synth_in_process(warm, Path(tmp) / "out", orchestrator)
    seconds, text = synth_in_process(project, out, orchestrator, profile=profile is not None)
    if profile is not None and text is not None:
        profile.write_text(text)
    from measure import peak_rss_mb  # benchmarks/, this script's folder

    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))
    return 0


def synth_in_child(project: Path, out: Path, orchestrator: str, profile: bool = False
                   ) -> tuple[float, float, str | None]:
    """An in-process synth in a new Python process of its own (after its imports and a
    warm-up there), so that no row carries the heap or caches of the rows before it: seconds,
    the child's peak RSS (MB) and, with ``profile``, the cProfile text."""
    with tempfile.TemporaryDirectory(prefix="flowstacks-child-") as tmp:  # the profile's place
        profile_file = Path(tmp) / "profile.txt"
        args = [sys.executable, str(Path(__file__).resolve()), "--child", str(project), str(out),
                orchestrator] + (["--profile-to", str(profile_file)] if profile else [])
        proc = subprocess.run(args, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"in-process synth failed for {project}: {proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        text = profile_file.read_text() if profile else None
    return result["seconds"], result["peak_rss_mb"], text


def metaflow_seconds(flow_files: list[Path], runs: int) -> dict[str, float]:
    """Median seconds of Metaflow's own deployer per flow, per orchestrator: `step-functions
    create --only-json`, `argo-workflows create --only-json` (both against a local moto server)
    and `airflow create` (writes the DAG file; its production-token records in the moto
    server's S3 are cleared before each call, outside the timing, so that each is a first
    deployment), each a whole `python flow.py ...` process as the oracle of the tests runs it."""
    from tests.oracle.harness import MotoOracle

    times: dict[str, list[float]] = {"step-functions": [], "argo": [], "airflow": []}
    with MotoOracle() as oracle:
        calls = (("step-functions", lambda f: oracle.sfn_json(f, branch="b1", production=True,
                                                               cache=False)),
                 ("argo", lambda f: oracle.argo_json(f, branch="b1", production=True,
                                                     cache=False)),
                 ("airflow", lambda f: oracle.airflow_dag(f, branch="b1", production=True,
                                                          fresh=False, cache=False)))
        for flow in flow_files:
            for _ in range(runs):
                for orch, call in calls:
                    if orch == "airflow":
                        oracle.clear_airflow_tokens()
                    start = time.perf_counter()
                    call(flow)
                    times[orch].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def startup_seconds(flow: Path, runs: int = 7) -> dict[str, float]:
    """`flowstacks names` against `python flow.py --help` (Metaflow's CLI start): median of
    ``runs``, the two commands alternating so that both see the same machine load."""
    env = {**os.environ, "USER": "bench"}
    cmds = {
        "flowstacks names": [str(REPO / ".venv/bin/flowstacks"), "names", str(flow), "--json"],
        "python flow.py --help": [sys.executable, str(flow), "--no-pylint", "--help"],
    }
    samples: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=True, env=env,
                           cwd=flow.parent)
            samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(v) for label, v in samples.items()}


# --- report --------------------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    lines = ["| N flows | orchestrator | mode | seconds | deployments | ms / deployment | peak RSS MB | output MB |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.n} | {r.orchestrator} | {r.mode} | {r.seconds:.2f} | {r.deployments} | "
                     f"{r.per_deployment_ms:.2f} | {r.peak_rss_mb:.0f} | {r.output_mb:.1f} |")
    return "\n".join(lines)


JOBS_MODE = "process"  # the default --jobs (the number of cores)
ONE_JOB_MODE = "process --jobs 1"


def per_deployment(rows: list[Row], orch: str, mode: str, n: int) -> Row | None:
    return next((r for r in rows if (r.orchestrator, r.mode, r.n) == (orch, mode, n)), None)


def report_sections(rows: list[Row], sizes: list[int], orchestrators: list[str],
                    mf: dict[str, float] | None) -> list[str]:
    """The ratios against Metaflow, the --jobs speed-up, growth and memory, from the rows."""
    out: list[str] = []
    if mf:
        out += ["## Against Metaflow 2.19.39's own deployers (the same run)", "",
                "Metaflow: the median of its runs (below) per deployment, each a whole `python "
                "flow.py ...` process. flowstacks: whole `flowstacks synth` processes over 4 stacks "
                "(start-up included), per deployment.", "",
                "| orchestrator | Metaflow s / deployment | N flows | flowstacks mode | "
                "flowstacks ms / deployment | ratio |", "|---|---:|---:|---|---:|---:|"]
        for orch in orchestrators:
            for n in sizes:
                for mode in (JOBS_MODE, ONE_JOB_MODE):
                    row = per_deployment(rows, orch, mode, n)
                    if row and orch in mf:
                        out.append(f"| {orch} | {mf[orch]:.3f} | {n} | {mode} | "
                                   f"{row.per_deployment_ms:.2f} | "
                                   f"{mf[orch] / (row.per_deployment_ms / 1000):.0f}x |")
        out.append("")
    speedups = []
    for orch in orchestrators:
        for n in sizes:
            one, many = (per_deployment(rows, orch, m, n) for m in (ONE_JOB_MODE, JOBS_MODE))
            if one and many:
                speedups.append(f"| {orch} | {n} | {one.seconds:.2f} | {many.seconds:.2f} | "
                                f"{one.seconds / many.seconds:.2f}x | {one.peak_rss_mb:.0f} | "
                                f"{many.peak_rss_mb:.0f} |")
    if speedups:
        out += [f"## `--jobs` ({os.cpu_count()} cores, 4 stacks)", "",
                "| orchestrator | N flows | s, --jobs 1 | s, default --jobs | speed-up | "
                "peak RSS MB, --jobs 1 | peak RSS MB, default (sum over processes) |",
                "|---|---:|---:|---:|---:|---:|---:|", *speedups, ""]
    out += ["## Growth (per-deployment time at the largest N / at the smallest)", ""]
    lo, hi = min(sizes), max(sizes)
    for orch in orchestrators:
        for mode in ("in-process", ONE_JOB_MODE, JOBS_MODE):
            a, b = per_deployment(rows, orch, mode, lo), per_deployment(rows, orch, mode, hi)
            if a and b and lo != hi:
                out.append(f"- {orch}, {mode}: N={lo} {a.per_deployment_ms:.2f} ms -> N={hi} "
                           f"{b.per_deployment_ms:.2f} ms: {b.per_deployment_ms / a.per_deployment_ms:.2f}x")
    out.append("")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="N=10, argo only, no Metaflow")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--jobs1-sizes", help="sizes with a `--jobs 1` process row too "
                        "(default: every size)")
    parser.add_argument("--in-process-sizes", help="sizes with an in-process row too "
                        "(default: every size)")
    parser.add_argument("--orchestrators", default=",".join(ORCHESTRATORS))
    parser.add_argument("--metaflow-sample", type=int, default=3, help="flows timed with Metaflow")
    parser.add_argument("--metaflow-runs", type=int, default=3)
    parser.add_argument("--results", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--profile-size", type=int, help="N of the profiled in-process run "
                        "(default: the largest; 0: none)")
    parser.add_argument("--child", nargs=3, metavar=("PROJECT", "OUT", "ORCHESTRATOR"),
                        help=argparse.SUPPRESS)  # one in-process row, run by synth_in_child
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        project, out, orchestrator = args.child
        return child_main(Path(project), Path(out), orchestrator, args.profile_to)
    sizes = [10] if args.smoke else [int(x) for x in args.sizes.split(",")]
    parse = lambda text: [int(x) for x in text.split(",") if x] if text is not None else sizes  # noqa: E731
    jobs1_sizes, in_process_sizes = parse(args.jobs1_sizes), parse(args.in_process_sizes)
    orchestrators = ["argo"] if args.smoke else args.orchestrators.split(",")
    profile_size = max(sizes) if args.profile_size is None else args.profile_size
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    work = Path(tempfile.mkdtemp(prefix="flowstacks-bench-"))
    rows: list[Row] = []
    profile_text = None
    mf = None
    try:
        if not args.smoke:  # first: the baseline sees the same machine as the rows after it
            sample = sorted((make_project(work / "metaflow-sample", max(args.metaflow_sample * 2, 10))
                             / "flowspecs").glob("bench*.py"))
            sample = [p for p in sample if "trigger_on_finish" not in p.read_text()][: args.metaflow_sample]
            mf = metaflow_seconds(sample, args.metaflow_runs)
            print(f"metaflow seconds per deployment: {mf}", flush=True)
        for n in sizes:
            project = make_project(work / f"n{n}", n)
            for orch in orchestrators:
                runs = [(JOBS_MODE, None)] + ([(ONE_JOB_MODE, 1)] if n in jobs1_sizes else [])
                for mode, jobs in runs:
                    out = work / f"out-{n}-{orch}-p"
                    seconds, rss = synth_process(project, out, orch, jobs)
                    rows.append(Row(n, orch, mode, seconds, n * len(STACKS), rss, du_mb(out)))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
                    shutil.rmtree(out, ignore_errors=True)
                if n in in_process_sizes:
                    out = work / f"out-{n}-{orch}-i"
                    seconds, rss, _ = synth_in_child(project, out, orch)
                    rows.append(Row(n, orch, "in-process", seconds, n * len(STACKS), rss, du_mb(out)))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
                    shutil.rmtree(out, ignore_errors=True)
                if n == profile_size and orch == orchestrators[0]:
                    # a separate run: the profiler's overhead stays out of the table
                    out = work / f"out-{n}-{orch}-prof"
                    _, _, profile_text = synth_in_child(project, out, orch, profile=True)
                    shutil.rmtree(out, ignore_errors=True)
        load_after = os.getloadavg()
        report = [f"# flowstacks benchmark ({time.strftime('%Y-%m-%d')})", "",
                  f"Started {started}; load average (1, 5, 15 min) before: "
                  f"{', '.join(f'{x:.2f}' for x in load_before)}; after: "
                  f"{', '.join(f'{x:.2f}' for x in load_after)}.", "",
                  "`process`: a whole `flowstacks synth` process (start-up and imports included) "
                  f"with the default `--jobs` (the number of cores, {os.cpu_count()} here); "
                  "`process --jobs 1`: the same, one stack after the other in one process. "
                  "`in-process`: `flowstacks.synth.engine.synth` (one process) timed inside a new "
                  "Python process of its own, after its imports and a warm-up on a 2-flow "
                  "project: the marginal cost. Peak RSS: each row's own process (VmHWM), plus, "
                  "with `--jobs`, the VmHWM of every stack process it forked (shared pages count "
                  "once per process: the sum overstates).", "",
                  f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                  f"{platform.python_version()}, {platform.platform()}", "",
                  "Each flowstacks run synthesizes every flow into 4 stacks "
                  f"({', '.join(STACKS)}); a deployment is one flow in one stack for one orchestrator.",
                  "", table(rows), ""]
        if mf:
            report += [f"Metaflow: {args.metaflow_runs} runs x {args.metaflow_sample} flows "
                       "(linear, foreach, split shapes of the same generator), before the rows "
                       "above: " + ", ".join(f"{k} {v:.3f} s" for k, v in mf.items()) + ".", ""]
        report += report_sections(rows, sizes, orchestrators, mf)
        if not args.smoke:
            starts = startup_seconds(REPO / "flowspecs" / "project_flow.py")
            report += ["## Start-up", ""] + [f"- {k}: {v:.3f} s" for k, v in starts.items()]
            report.append(f"- ratio: {starts['python flow.py --help'] / starts['flowstacks names']:.2f}x "
                          "(Metaflow's --help time / flowstacks names time)")
        if profile_text:
            report += ["", f"## Profile of an N={profile_size} in-process run "
                       f"({orchestrators[0]}; a separate run, not in the table)", "",
                       "```", profile_text.strip(), "```"]
        text = "\n".join(report) + "\n"
        print(text)
        if args.results:
            args.results.write_text(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
