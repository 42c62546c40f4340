"""The ``bash -c`` command of a Step Functions task (docs/metaflow-contract.md#step-command).

Source: Metaflow 2.19.39 ``plugins/aws/step_functions/step_functions.py`` (``_step_cli``) and
``plugins/aws/batch/batch.py`` (``_command``). The text is the argv Metaflow's
``shlex.split('bash -c "..."')`` leaves.
"""

from __future__ import annotations

import hashlib
import shlex
import string
from typing import Any

from flowstacks.model.flow import Step
from flowstacks.render.metaflow_runtime import LOGS_DIR, script_name, task_script, top_level_options
from flowstacks.render.sfn.batch import batch_spec
from flowstacks.render.sfn.context import FlowContext


def _top_level(fc: FlowContext, step: Step, batch: dict[str, Any]) -> list[str]:
    words: list[str] = []
    if not step.decorator("batch"):
        # Only decorators added at deploy time travel as --with; a @batch written in the
        # flow comes back with the packaged code (StepFunctions._step_cli).
        words += ["--with", shlex.quote(batch_spec(batch))]
    args = fc.dep.top_level_args()
    words += [shlex.quote(a) if i and args[i - 1] == "--branch" else a
              for i, a in enumerate(args)]
    return words + top_level_options(fc.ctx.platform.metadata, fc.aws.datastore_root,
                                     "step_functions_internal")


def step_command(fc: FlowContext, step: Step, input_paths: str | None, batch: dict[str, Any],
                 user_retries: int) -> str:
    """The task's script: (the parameters task of the start step, the parent task ids of a
    foreach join, then) the step, inside Batch's mflog and code package shell."""
    entry = ["python", script_name(fc.flow.file)]
    top = _top_level(fc, step, batch)
    cmds: list[str] = []
    if fc.is_start(step):
        params_task = "${AWS_BATCH_JOB_ID}-params"
        env_file = file_name(fc, step, "parameters")
        init = entry + top + ["init", "--run-id sfn-$METAFLOW_RUN_ID",
                              f"--task-id {params_task}"]
        exists = entry + ["dump", "--max-value-size=0",
                          f"sfn-${{METAFLOW_RUN_ID}}/_parameters/{params_task}"]
        cmds.append(
            f"if ! {' '.join(exists)} >/dev/null 2>/dev/null; then python -m "
            f"metaflow.plugins.aws.step_functions.set_batch_environment parameters {env_file} "
            f"&& . `pwd`/{env_file} && {' '.join(init)}; fi")
        input_paths = f"sfn-${{METAFLOW_RUN_ID}}/_parameters/{params_task}"
    if fc.graph.is_foreach_join(step):
        env_file = file_name(fc, step, "parent_tasks")
        cmds.append("python -m metaflow.plugins.aws.step_functions.set_batch_environment "
                    f"parent_tasks {env_file} && . `pwd`/{env_file}")
    words = ["step", step.name, "--run-id sfn-$METAFLOW_RUN_ID",
             "--task-id ${AWS_BATCH_JOB_ID}",
             "--retry-count $((AWS_BATCH_JOB_ATTEMPT-1))",
             f"--max-user-code-retries {user_retries}",
             f"--input-paths {input_paths}"]
    if fc.graph.follows_foreach(step):
        words.append("--split-index $METAFLOW_SPLIT_INDEX")
    cmds.append(" ".join(entry + top + words))
    pathspec = f"{fc.flow.name}/sfn-$METAFLOW_RUN_ID/{step.name}/$AWS_BATCH_JOB_ID"
    # `true` first: images whose entrypoint is `eval $@` (batch.py _command)
    return task_script(["true", LOGS_DIR], pathspec, "$((AWS_BATCH_JOB_ATTEMPT-1))",
                       fc.inputs.code_package_url, " && ".join(cmds))


def file_name(fc: FlowContext, step: Step, purpose: str) -> str:
    """10 lowercase letters, like Metaflow's random env file name, but deterministic."""
    digest = hashlib.sha256(
        f"{fc.dep.state_machine_name}/{step.name}/{purpose}".encode("utf-8")).digest()
    return "".join(string.ascii_lowercase[b % 26] for b in digest[:10])
