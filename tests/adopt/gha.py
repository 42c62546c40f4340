"""A small stand-in for the GitHub Actions runner: runs every ``run:`` step of a workflow with bash as
GitHub does (``bash --noprofile --norc -eo pipefail``), with the GitHub environment variables, ``env:``
at every level, step and job outputs (``$GITHUB_OUTPUT``), ``$GITHUB_PATH``, ``needs``, ``if:`` and a
job matrix computed by an earlier job.

``uses:`` steps are not run: ``actions/checkout`` is a ``git clone`` of the test repository at the event's
commit, ``actions/setup-python`` is the test's virtualenv (linked as ``.venv``); the Pulumi, AWS and
comment actions need the Pulumi CLI, AWS or GitHub and are only recorded (README lists them).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class Ctx(dict):
    """A context object: ``a.b.c`` lookups; a missing property is '' as in GitHub expressions."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name, "")
        return Ctx(value) if isinstance(value, dict) else value


def evaluate(expr: str, contexts: dict[str, Any]) -> Any:
    """A GitHub expression of the kinds the generated workflows use (property access, ==, !=, &&,
    ||, !, fromJSON, string literals)."""
    py = expr.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", py))
    scope = {k: Ctx(v) if isinstance(v, dict) else v for k, v in contexts.items()}
    scope["fromJSON"] = json.loads
    return eval(py, {"__builtins__": {}}, scope)  # noqa: S307 - test helper on our own templates


def substitute(value: Any, contexts: dict[str, Any]) -> str:
    text = str(value)
    full = _EXPR.fullmatch(text.strip())
    if full:
        result = evaluate(full.group(1), contexts)
        return json.dumps(result) if isinstance(result, (list, dict)) else (
            str(result).lower() if isinstance(result, bool) else str(result))
    return _EXPR.sub(lambda m: str(evaluate(m.group(1), contexts)), text)


def _condition(value: Any, contexts: dict[str, Any]) -> bool:
    if value is None:
        return True
    text = str(value).strip()
    m = _EXPR.fullmatch(text)
    return bool(evaluate(m.group(1) if m else text, contexts))


def read_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT``: ``key=value`` lines and ``key<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delim = line.split("<<", 1)
            block = []
            i += 1
            while lines[i] != delim:
                block.append(lines[i])
                i += 1
            out[key] = "\n".join(block)
        elif "=" in line:
            key, _, val = line.partition("=")
            out[key] = val
        i += 1
    return out


@dataclass
class StepRun:
    job: str
    name: str
    kind: str  # "run" or the action ("actions/checkout", ...)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class WorkflowRun:
    steps: list[StepRun] = field(default_factory=list)
    job_outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)  # job (+ matrix value) -> step summary
    skipped_jobs: list[str] = field(default_factory=list)

    def run_steps(self) -> list[StepRun]:
        return [s for s in self.steps if s.kind == "run"]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _order(jobs: dict[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        for name, job in jobs.items():
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            if name not in done and all(n in done for n in needs):
                done.append(name)
    return done


def run_workflow(path: Path, repo: Path, sha: str, github: dict[str, Any], venv: Path,
                 tmp: Path, base_env: dict[str, str]) -> WorkflowRun:
    """Run every job of the workflow at ``path`` for the event in ``github`` (the ``github`` context)."""
    wf = load(path)
    result = WorkflowRun()
    github = {**github, "sha": sha, "workspace": ""}
    for job_name in _order(wf["jobs"]):
        job = wf["jobs"][job_name]
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        needs_ctx = {n: {"outputs": result.job_outputs.get(n, {})} for n in needs}
        contexts: dict[str, Any] = {"github": github, "needs": needs_ctx, "vars": {}, "secrets": {},
                                    "runner": {"temp": ""}, "matrix": {}, "steps": {}}
        if any(n in result.skipped_jobs for n in needs) or not _condition(job.get("if"), contexts):
            result.skipped_jobs.append(job_name)
            continue
        matrix = (job.get("strategy") or {}).get("matrix")
        combos = [{}]
        if matrix:
            key, values = next(iter(matrix.items()))
            values = json.loads(substitute(values, contexts)) if isinstance(values, str) else values
            combos = [{key: v} for v in values]
        for combo in combos:
            label = job_name + (f"[{next(iter(combo.values()))}]" if combo else "")
            outputs = _run_job(wf, job_name, job, label, {**contexts, "matrix": combo}, repo, sha, venv,
                               tmp / re.sub(r"[^A-Za-z0-9_.-]", "_", label), base_env, result)
            result.job_outputs.setdefault(job_name, {}).update(outputs)
    return result


def _run_job(wf: dict[str, Any], job_name: str, job: dict[str, Any], label: str, contexts: dict[str, Any],
             repo: Path, sha: str, venv: Path, home: Path, base_env: dict[str, str],
             result: WorkflowRun) -> dict[str, str]:
    workspace, temp = home / "workspace", home / "runner-temp"
    temp.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "checkout", "-q", sha], check=True)
    (workspace / ".venv").symlink_to(venv)
    files = {k: temp / f"_{k}" for k in ("output", "env", "path", "summary")}
    contexts = {**contexts, "runner": {"temp": str(temp)}, "steps": {},
                "github": {**contexts["github"], "workspace": str(workspace)}}
    extra_path: list[str] = []
    for i, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {i}"
        if "uses" in step:
            result.steps.append(StepRun(label, name, step["uses"].split("@")[0]))
            continue
        if not _condition(step.get("if"), contexts):
            continue
        env = dict(base_env)
        for level in (wf.get("env"), job.get("env"), step.get("env")):
            env.update({k: substitute(v, contexts) for k, v in (level or {}).items()})
        for key in ("output", "env", "path"):  # per step; the summary collects the whole job's
            files[key].write_text("")
        files["summary"].touch()
        env.update({
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_SHA": sha, "GITHUB_REPOSITORY": contexts["github"]["repository"],
            "GITHUB_EVENT_NAME": contexts["github"]["event_name"],
            "GITHUB_HEAD_REF": contexts["github"].get("head_ref", ""),
            "GITHUB_REF": contexts["github"].get("ref", ""),
            "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(files["output"]), "GITHUB_ENV": str(files["env"]),
            "GITHUB_PATH": str(files["path"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "PATH": ":".join(extra_path + [base_env["PATH"]]),
        })
        script = temp / f"step{i}.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=workspace / step.get("working-directory", "."), env=env,
                              capture_output=True, text=True, timeout=900)
        run = StepRun(label, name, "run", proc.returncode, proc.stdout, proc.stderr,
                      read_outputs(files["output"]))
        result.steps.append(run)
        if proc.returncode != 0:
            raise AssertionError(f"{label} / {name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        extra_path = [p for p in files["path"].read_text().splitlines() if p][::-1] + extra_path
        base_env = {**base_env, **read_outputs(files["env"])}
        if step.get("id"):
            contexts["steps"][step["id"]] = {"outputs": run.outputs}
    result.summaries[label] = files["summary"].read_text() if files["summary"].exists() else ""
    return {k: substitute(v, contexts) for k, v in (job.get("outputs") or {}).items()}
