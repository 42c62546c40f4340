"""flowstacks benchmark: synth at N = 10, 100, 1,000 flows against Metaflow's own deployers.

    .venv/bin/python benchmarks/bench.py                 # the full run (several minutes)
    .venv/bin/python benchmarks/bench.py --smoke         # N=10, one orchestrator (CI)
    .venv/bin/python benchmarks/bench.py --results benchmarks/RESULTS.md

Prints one table and the ratios the targets are stated in (issue 8); measured side by side in
one run on this machine. Never asserts timings: machines here are shared and noisy.
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
    mode: str  # process | in-process
    seconds: float
    deployments: int
    peak_rss_mb: float
    output_mb: float

    @property
    def per_deployment_ms(self) -> float:
        return 1000 * self.seconds / self.deployments


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def synth_process(project: Path, out: Path, orchestrator: str) -> tuple[float, float]:
    """Wall time and peak RSS (MB, the child's own VmHWM) of a whole `flowstacks synth` process
    over the 4 stacks."""
    args = [sys.executable, str(REPO / "benchmarks" / "measure.py"), "synth", "--quiet",
            "--orchestrator", orchestrator, "--out", str(out), "--project-dir", str(project)]
    for stack in STACKS:
        args += ["--stack", stack]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"synth failed for {project}: {proc.stderr[-2000:]}")
    figures = [line for line in proc.stderr.splitlines() if line.startswith("peak_rss_mb=")]
    if not figures:
        raise RuntimeError(f"measure.py printed no peak_rss_mb= line; its stderr: {proc.stderr[-2000:]}")
    return elapsed, float(figures[-1].split("=", 1)[1])


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
    """Median seconds of Metaflow's own `create --only-json` per flow, per orchestrator."""
    from tests.oracle.harness import MotoOracle

    times: dict[str, list[float]] = {"step-functions": [], "argo": []}
    with MotoOracle() as oracle:
        for flow in flow_files:
            for _ in range(runs):
                for orch, call in (("step-functions", oracle.sfn_json), ("argo", oracle.argo_json)):
                    start = time.perf_counter()
                    call(flow, branch="b1", production=True, cache=False)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="N=10, argo only, no Metaflow")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--orchestrators", default=",".join(ORCHESTRATORS))
    parser.add_argument("--metaflow-sample", type=int, default=3, help="flows timed with Metaflow")
    parser.add_argument("--metaflow-runs", type=int, default=3)
    parser.add_argument("--results", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--profile-size", type=int, help="N of the profiled in-process run "
                        "(default: the largest)")
    parser.add_argument("--child", nargs=3, metavar=("PROJECT", "OUT", "ORCHESTRATOR"),
                        help=argparse.SUPPRESS)  # one in-process row, run by synth_in_child
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        project, out, orchestrator = args.child
        return child_main(Path(project), Path(out), orchestrator, args.profile_to)
    sizes = [10] if args.smoke else [int(x) for x in args.sizes.split(",")]
    orchestrators = ["argo"] if args.smoke else args.orchestrators.split(",")

    work = Path(tempfile.mkdtemp(prefix="flowstacks-bench-"))
    rows: list[Row] = []
    profile_text = None
    try:
        for n in sizes:
            project = make_project(work / f"n{n}", n)
            for orch in orchestrators:
                out = work / f"out-{n}-{orch}-p"
                seconds, rss = synth_process(project, out, orch)
                rows.append(Row(n, orch, "process", seconds, n * len(STACKS), rss, du_mb(out)))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
                out = work / f"out-{n}-{orch}-i"
                seconds, rss, _ = synth_in_child(project, out, orch)
                rows.append(Row(n, orch, "in-process", seconds, n * len(STACKS), rss, du_mb(out)))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
                shutil.rmtree(out, ignore_errors=True)
                if n == (args.profile_size or max(sizes)) and orch == orchestrators[0]:
                    # a separate run: the profiler's overhead stays out of the table
                    _, _, profile_text = synth_in_child(project, out, orch, profile=True)
                    shutil.rmtree(out, ignore_errors=True)
        report = [f"# flowstacks benchmark ({time.strftime('%Y-%m-%d')})", "",
                  "`process`: a whole `flowstacks synth` process (start-up and imports included). "
                  "`in-process`: `flowstacks.synth.engine.synth` timed inside a new Python process of its own, "
                  "after its imports and a warm-up on a 2-flow project: the marginal cost, which "
                  "linearity is judged on. Peak RSS: each row's own process (VmHWM).", "",
                  f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                  f"{platform.python_version()}, {platform.platform()}", "",
                  "Each flowstacks run synthesizes every flow into 4 stacks "
                  f"({', '.join(STACKS)}); a deployment is one flow in one stack for one orchestrator.",
                  "", table(rows), ""]
        if not args.smoke:
            sample = sorted((work / f"n{sizes[0]}" / "flowspecs").glob("bench*.py"))
            sample = [p for p in sample if "trigger_on_finish" not in p.read_text()][: args.metaflow_sample]
            mf = metaflow_seconds(sample, args.metaflow_runs)
            report += ["## Against Metaflow 2.19.39's own deployers", "",
                       f"Metaflow: median of {args.metaflow_runs} runs x {len(sample)} flows of "
                       "`create --only-json` against a local moto server.", "",
                       "| orchestrator | Metaflow s / deployment | flowstacks ms / deployment (N=max, in-process) | ratio |",
                       "|---|---:|---:|---:|"]
            for orch, mf_s in mf.items():
                ours = [r for r in rows if r.orchestrator == orch and r.mode == "in-process" and r.n == max(sizes)]
                if ours:
                    ratio = mf_s / (ours[0].per_deployment_ms / 1000)
                    report.append(f"| {orch} | {mf_s:.3f} | {ours[0].per_deployment_ms:.2f} | {ratio:.0f}x |")
            report += ["", "## Linearity (per-deployment time at N=max / at N=min, in-process)", ""]
            for orch in orchestrators:
                by_n = {r.n: r for r in rows if r.orchestrator == orch and r.mode == "in-process"}
                lo, hi = by_n[min(sizes)], by_n[max(sizes)]
                report.append(f"- {orch}: {hi.per_deployment_ms / lo.per_deployment_ms:.2f}x")
            starts = startup_seconds(REPO / "flowspecs" / "project_flow.py")
            report += ["", "## Start-up", ""] + [f"- {k}: {v:.3f} s" for k, v in starts.items()]
            report.append(f"- ratio: {starts['python flow.py --help'] / starts['flowstacks names']:.2f}x "
                          "(Metaflow's --help time / flowstacks names time)")
        if profile_text:
            report += ["", f"## Profile of an N={args.profile_size or max(sizes)} in-process run "
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
