"""The pod command of one Airflow task: the step command lines and the shell around them, as
Metaflow's ``airflow create`` writes them (docs/metaflow-contract.md#step-command).

Source: Metaflow 2.19.39 ``plugins/airflow/airflow.py`` (``_step_cli``, ``_to_job``),
``airflow_utils.py`` (``AIRFLOW_MACROS``) and ``plugins/kubernetes/kubernetes.py`` (``_command``).
Unlike the other backends, the text here is Metaflow's own, before its
``shlex.split('bash -c "..."')``, which :func:`bash_c_command` performs.
"""

from __future__ import annotations

import re
import shlex

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.render.metaflow_runtime import (
    INIT_SCRIPT, LOGS_DIR, for_bash_c, script_name, task_script, top_level_options,
)
from flowstacks.render.walk import StepIndex

# --- airflow_utils.AIRFLOW_MACROS (jinja evaluated by Airflow at run time) ---------------------
RUN_ID = "airflow-{{ [run_id, dag_run.dag_id] | run_id_creator }}"
TASK_ID = "airflow-{{ [run_id, ti.task_id, dag_run.dag_id] | task_id_creator  }}"
FOREACH_TASK_ID = ("airflow-{{ [run_id, ti.task_id, dag_run.dag_id, ti.map_index] "
                   "| task_id_creator  }}")
ATTEMPT = "{{ task_instance.try_number - 1 }}"
AIRFLOW_RUN_ID = "{{ run_id }}"
# Metaflow uses {{ ti.job_id }}; Airflow 3's RuntimeTaskInstance has no job_id (it would render
# empty), so the task instance's own id fills the same bookkeeping slot (DIFFERENCES.md).
AIRFLOW_JOB_ID = "{{ ti.id }}"
FOREACH_SPLIT_INDEX = "{{ ti.map_index }}"
PARAMETERS = "{{ params | json_dump }}"
TASK_ID_XCOM_KEY = "metaflow_task_id"


def _input_paths(flow: Flow, steps: StepIndex, step: Step) -> str | None:
    """``Airflow._to_job``: input paths from the parents' task ids pushed to XCom."""
    if step.name == flow.start.name:
        return None
    pull = "{{ task_instance.xcom_pull(task_ids='%s',key='%s') }}"
    if steps.is_foreach_join(step):
        parent = step.in_funcs[0]
        return "%s/%s/:{{ task_instance.xcom_pull(task_ids='%s',key='%s') | join_list }}" % (
            RUN_ID, parent, parent, TASK_ID_XCOM_KEY)
    if len(step.in_funcs) == 1:
        parent = step.in_funcs[0]
        return "%s/%s/%s" % (RUN_ID, parent, pull % (parent, TASK_ID_XCOM_KEY))
    return "%s:" % RUN_ID + ",".join(
        "/%s/%s" % (p, pull % (p, TASK_ID_XCOM_KEY)) for p in step.in_funcs)


def step_commands(ctx: StackContext, fd: FlowDeployment, step: Step, with_spec: str | None,
                  task_id: str) -> list[str]:
    """``Airflow._step_cli``: the (parameters init and) step command lines."""
    flow = fd.flow
    steps = StepIndex(flow)
    entry = ["python", script_name(flow.file)]
    top = ([] if with_spec is None else ["--with", shlex.quote(with_spec)])
    top += fd.top_level_args()
    top += top_level_options(ctx.platform.metadata, ctx.config.aws.datastore_root,
                             "airflow_internal")
    cmds = []
    paths = _input_paths(flow, steps, step)
    if step.name == flow.start.name:
        params_task = f"{task_id}-params"
        # Metaflow draws 10 random letters for this file name; any name works, a fixed one
        # keeps the DAG file stable.
        param_file = "mfparams"
        init = entry + top + ["init", f"--run-id {RUN_ID}", f"--task-id {params_task}"]
        exists = entry + ["dump", "--max-value-size=0", f"{RUN_ID}/_parameters/{params_task}"]
        export = ("python -m metaflow.plugins.airflow.plumbing.set_parameters %s "
                  "&& . `pwd`/%s" % (param_file, param_file))
        cmds.append("if ! %s >/dev/null 2>/dev/null; then %s && %s; fi"
                    % (" ".join(exists), export, " ".join(init)))
        paths = f"{RUN_ID}/_parameters/{params_task}"
    argv = ["step", step.name, f"--run-id {RUN_ID}", f"--task-id {task_id}",
            f"--retry-count {ATTEMPT}", f"--max-user-code-retries {step.retry_times}",
            f"--input-paths {paths}"]
    if steps.follows_foreach(step):
        argv.append(f"--split-index {FOREACH_SPLIT_INDEX}")
    cmds.append(" ".join(entry + top + argv))
    return cmds


def pod_command(fd: FlowDeployment, step: Step, task_id: str, code_url: str,
                step_cmds: list[str]) -> list[str]:
    """``Kubernetes._command``: mflog env, code download, the step with its logs captured,
    wrapped as ``bash -c`` exactly as Metaflow splits it (``shlex.split('bash -c "..."')``)."""
    pathspec = f"{fd.flow.name}/{RUN_ID}/{step.name}/{task_id}"
    # `true` first: images whose entrypoint is `eval $@` (kubernetes.py _command)
    body = task_script([for_bash_c(INIT_SCRIPT), "true", LOGS_DIR], pathspec, ATTEMPT, code_url,
                       " && ".join(step_cmds), bash_c=True)
    return bash_c_command(body)


_QUOTED_ESCAPE = re.compile(r'\\(["\\])')


def _unescaped_quote(body: str) -> bool:
    """A ``"`` after an even number of backslashes (none included). Jumps from quote to quote:
    a regex scanning every position of a long pod script cost ~5% of an Airflow synth."""
    i = body.find('"')
    while i != -1:
        j = i
        while j and body[j - 1] == "\\":
            j -= 1
        if (i - j) % 2 == 0:
            return True
        i = body.find('"', i + 1)
    return False


def bash_c_command(body: str) -> list[str]:
    """``shlex.split('bash -c "%s"' % body)``, which is how Metaflow builds the pod command.
    Inside double quotes POSIX shlex drops a backslash only before ``"`` or ``\\``; shlex reads
    char by char and cost seconds per hundred flows, so the common case is one regex. A body
    with an unescaped ``"`` splits differently: that rare case goes through shlex itself."""
    if _unescaped_quote(body):
        return shlex.split('bash -c "%s"' % body)
    return ["bash", "-c", _QUOTED_ESCAPE.sub(r"\1", body)]
