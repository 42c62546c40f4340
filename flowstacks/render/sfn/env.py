"""What a Step Functions task carries: the Batch ``Parameters`` passed from state to state and
the container environment, in Metaflow's order (docs/metaflow-contract.md#task-environment).

Source: Metaflow 2.19.39 ``plugins/aws/step_functions/step_functions.py`` (``_batch``) and
``plugins/aws/batch/batch.py`` (``create_job``).
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.flow import Step
from flowstacks.render.metaflow_runtime import (
    CODE_METADATA_JSON, DATASTORE, card_root, config_value_env, datatools_root,
    image_python_version, metaflow_version_env,
)
from flowstacks.render.platform_env import encryption_env, secrets_env
from flowstacks.render.serialize import metaflow_json
from flowstacks.render.sfn.context import FlowContext

SFN_USER = "SFN"  # METAFLOW_USER / metaflow.user of every Step Functions task


def parameters_and_env(fc: FlowContext, step: Step
                       ) -> tuple[dict[str, str], dict[str, str], str | None]:
    """Batch ``Parameters`` (state passed between states), the step's own env, and its input
    paths (None for the start step, which reads its parameters task)."""
    flow, graph = fc.flow, fc.graph
    attrs: dict[str, str] = {
        "metaflow.user": SFN_USER,
        "metaflow.owner": fc.ctx.owner,
        "metaflow.flow_name": flow.name,
        "metaflow.step_name": step.name,
        "metaflow.version": fc.inputs.metaflow_version,
        "step_name": step.name,
    }
    is_start = fc.is_start(step)
    if is_start:
        # Read back by the next `step-functions create` as the authorisation check
        # (docs/metaflow-contract.md#production-token).
        attrs["metaflow.production_token"] = fc.ctx.production_token
    env: dict[str, str] = dict(step.environment)
    if fc.aws.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = fc.aws.s3_endpoint_url
    input_paths: str | None
    if is_start:
        attrs["metaflow.run_id.$"] = "$$.Execution.Name"
        if flow.parameters:
            # Parameters arrive as execution input {"Parameters": "<json>"}.
            env["METAFLOW_PARAMETERS"] = "$.Parameters"
            defaults = {p.name: p.default for p in flow.parameters if p.default is not None}
            env["METAFLOW_DEFAULT_PARAMETERS"] = metaflow_json(defaults)
        input_paths = None
    else:
        if graph.is_foreach_join(step):
            input_paths = f"sfn-${{METAFLOW_RUN_ID}}/{step.in_funcs[0]}/:${{METAFLOW_PARENT_TASK_IDS}}"
            env["METAFLOW_SPLIT_PARENT_TASK_ID"] = (
                f"$.Parameters.split_parent_task_id_{step.split_parents[-1]}")
            attrs["metaflow.run_id.$"] = "$.Parameters.['metaflow.run_id']"
        elif len(step.in_funcs) == 1:
            input_paths = f"sfn-${{METAFLOW_RUN_ID}}/{step.in_funcs[0]}/${{METAFLOW_PARENT_TASK_ID}}"
            env["METAFLOW_PARENT_TASK_ID"] = "$.JobId"
            attrs["metaflow.run_id.$"] = "$.Parameters.['metaflow.run_id']"
        else:
            input_paths = "sfn-${METAFLOW_RUN_ID}:" + ",".join(
                f"/${{METAFLOW_PARENT_{i}_STEP}}/${{METAFLOW_PARENT_{i}_TASK_ID}}"
                for i in range(len(step.in_funcs)))
            attrs["metaflow.run_id.$"] = "$.[0].Parameters.['metaflow.run_id']"
            for i in range(len(step.in_funcs)):
                env[f"METAFLOW_PARENT_{i}_TASK_ID"] = f"$.[{i}].JobId"
                env[f"METAFLOW_PARENT_{i}_STEP"] = f"$.[{i}].Parameters.step_name"
        env["METAFLOW_INPUT_PATHS"] = input_paths
        if step.is_inside_foreach:
            _split_parent_attrs(fc, step, attrs)
            if any(graph.is_foreach_join(graph[n]) for n in step.next):
                key = f"split_parent_task_id_{graph[step.next[0]].split_parents[-1]}.$"
                env["METAFLOW_SPLIT_PARENT_TASK_ID_FOR_FOREACH_JOIN"] = attrs[key]
        if graph.follows_foreach(step):
            env["METAFLOW_SPLIT_INDEX"] = "$.Index"
    if fc.triggered:
        # flowstacks' extension: the triggering run travels from the execution input (TRIGGER_KEY)
        # through the Batch parameters, like the run id, to every task's --trigger option
        run_id = attrs["metaflow.run_id.$"]
        attrs["metaflow.trigger.$"] = ("$.Trigger" if is_start else
                                       run_id.replace("'metaflow.run_id'", "'metaflow.trigger'"))
    return attrs, env, input_paths


def _split_parent_attrs(fc: FlowContext, step: Step, attrs: dict[str, str]) -> None:
    """Carry the task id of each enclosing foreach split through the body (step_functions.py)."""
    graph, parents = fc.graph, step.split_parents
    foreach = [p for p in parents if graph[p].type == "foreach"]
    if graph.follows_foreach(step):
        attrs[f"split_parent_task_id_{parents[-1]}.$"] = "$.SplitParentTaskId"
        for p in parents[:-1]:
            if graph[p].type == "foreach":
                attrs[f"split_parent_task_id_{p}.$"] = f"$.Parameters.split_parent_task_id_{p}"
    elif step.type == "join" and not graph.is_foreach_join(step):
        for p in foreach:
            attrs[f"split_parent_task_id_{p}.$"] = f"$.[0].Parameters.split_parent_task_id_{p}"
    else:
        if step.type == "join":  # a foreach join nested in another foreach
            attrs[f"split_parent_task_id_{parents[-1]}.$"] = (
                f"$.Parameters.split_parent_task_id_{parents[-1]}")
            foreach = [p for p in parents[:-1] if graph[p].type == "foreach"]
        for p in foreach:
            attrs[f"split_parent_task_id_{p}.$"] = f"$.Parameters.split_parent_task_id_{p}"


def container_environment(fc: FlowContext, step: Step, env: dict[str, str],
                          batch: dict[str, Any]) -> list[dict[str, str]]:
    """The container env in Metaflow's order (Batch.create_job, then StepFunctions._batch);
    settings that are not configured are left out, as Batch's ``environment_variable`` skips
    None."""
    aws, ctx, flow = fc.aws, fc.ctx, fc.flow
    platform = ctx.platform
    root = aws.datastore_root
    code_url = fc.inputs.code_package_url
    pairs: list[tuple[str, str | None]] = [
        ("AWS_DEFAULT_REGION", aws.region),
        ("METAFLOW_CODE_METADATA", CODE_METADATA_JSON),
        ("METAFLOW_CODE_SHA", fc.inputs.code_package_sha),
        ("METAFLOW_CODE_URL", code_url),
        ("METAFLOW_CODE_DS", DATASTORE),
        ("METAFLOW_USER", SFN_USER),
        ("METAFLOW_SERVICE_URL", platform.task_service_url),
        ("METAFLOW_SERVICE_HEADERS", ctx.service_headers),
        ("METAFLOW_DATASTORE_SYSROOT_S3", root),
        ("METAFLOW_DATATOOLS_S3ROOT", datatools_root(root)),
        ("METAFLOW_DEFAULT_DATASTORE", DATASTORE),
        ("METAFLOW_DEFAULT_METADATA", platform.metadata),
        ("METAFLOW_CARD_S3ROOT", card_root(root)),
        ("METAFLOW_OTEL_SERVICE_NAME", "metaflow"),
        ("METAFLOW_RUNTIME_ENVIRONMENT", "aws-batch"),
        *secrets_env(platform),
    ]
    if batch["use_tmpfs"] and batch["tmpfs_tempdir"]:
        pairs.append(("METAFLOW_TEMPDIR", batch["tmpfs_path"]))
    pairs += encryption_env(platform)
    if aws.s3_endpoint_url:
        pairs.append(("METAFLOW_S3_ENDPOINT_URL", aws.s3_endpoint_url))
    pairs += list(env.items())
    python = image_python_version(ctx.config.compute.image)
    pairs += [
        ("METAFLOW_CODE_URL", code_url),
        ("METAFLOW_FLOW_NAME", flow.name),
        ("METAFLOW_STEP_NAME", step.name),
        ("METAFLOW_RUN_ID", None),  # filled below from the run id attribute
        ("METAFLOW_PRODUCTION_TOKEN", ctx.production_token),
        ("SFN_STATE_MACHINE", fc.dep.state_machine_name),
        ("METAFLOW_OWNER", ctx.owner),
        ("METAFLOW_RUNTIME_NAME", "step-functions"),
        ("USER", ctx.owner),
        ("METAFLOW_VERSION", metaflow_version_env(ctx.owner, flow.file, flow.name,
                                                  ctx.production_token, python,
                                                  fc.inputs.metaflow_version)),
    ]
    if flow.configs:
        pairs.append(("METAFLOW_FLOW_CONFIG_VALUE",
                      config_value_env(sorted(c.name for c in flow.configs))))
    if fc.uses_dynamodb(step):
        pairs.append(("METAFLOW_SFN_DYNAMO_DB_TABLE", ctx.dynamodb_table))
    if fc.triggered:
        # read by the top-level --trigger option of @trigger_on_finish (Metaflow's CLI takes
        # its options from METAFLOW_<OPTION>): `<Flow>/<run id>` -> current.trigger; empty when
        # the execution was not started by an upstream flow
        pairs.append(("METAFLOW_TRIGGER", None))
    run_id = ("$$.Execution.Name" if fc.is_start(step) else
              "$.[0].Parameters.['metaflow.run_id']" if fc.multi_parent(step) else
              "$.Parameters.['metaflow.run_id']")
    out = []
    for name, value in pairs:
        value = run_id if name == "METAFLOW_RUN_ID" else value
        if name == "METAFLOW_TRIGGER":
            value = ("$.Trigger" if fc.is_start(step) else
                     run_id.replace("'metaflow.run_id'", "'metaflow.trigger'"))
        if value is None:
            continue
        # Values starting with "$." or "$$." are JSONPath, resolved by Step Functions.
        key = "Value.$" if value.startswith(("$.", "$$.")) else "Value"
        out.append({"Name": name, key: value})
    return out
