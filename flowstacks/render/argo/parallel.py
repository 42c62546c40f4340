"""``@parallel`` on Argo: which steps are a gang, and the parameters that wire it.

Metaflow 2.19.39 (``plugins/argo/argo_workflows.py``) runs ``self.next(self.train,
num_parallel=N)`` as a foreach of one split (the jump-off template ``<step>-foreach-parallel``)
whose only task is a *resource* template creating a Kubernetes JobSet (:mod:`.jobset`): one
control job and N-1 worker jobs. Task ids are not hashed from the inputs as elsewhere but minted
from the ``task-id-entropy`` the foreach step writes (``control-<entropy>-0``,
``worker-<entropy>-<i>``), so the join rebuilds its input paths from ``num-parallel`` and
``task-id-entropy`` alone (``metaflow.plugins.argo.jobset_input_paths``).
docs/metaflow-contract.md#argo-parallel.
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.flow import Step

# the ``{{inputs.parameters.*}}`` a gang's templates pass down
NUM_PARALLEL = "num-parallel"
ENTROPY = "task-id-entropy"
JOBSET_NAME = "jobset-name"
WORKER_COUNT = "workerCount"
RETRY_COUNT = "retryCount"
# sprig cannot read hyphenated names with the dot syntax (argo-workflows#10567)
WORKER_COUNT_VALUE = "{{=sprig.int(sprig.sub(sprig.int(inputs.parameters['num-parallel']),1))}}"
# the task id of each gang member (TASK_ID_PREFIX: control|worker; TASK_ID_SUFFIX: job index)
TASK_ID = "$TASK_ID_PREFIX-{{inputs.parameters.task-id-entropy}}-$TASK_ID_SUFFIX"
SPLIT_INDEX = "${MF_CONTROL_INDEX:-$((MF_WORKER_REPLICA_INDEX + 1))}"
UBF_OPTION = "--ubf-context $UBF_CONTEXT"
RETRY_COUNT_VALUE = "{{inputs.parameters.retryCount}}"


def is_parallel_step(step: Step) -> bool:
    """A ``@parallel`` step (``DAGNode.parallel_step``)."""
    return step.decorator("parallel") is not None


def is_parallel_foreach(step: Step) -> bool:
    """The ``num_parallel`` foreach before a ``@parallel`` step (``DAGNode.parallel_foreach``):
    a foreach without a foreach variable."""
    return step.type == "foreach" and step.foreach_param is None


def is_parallel_join(step: Step, steps: dict[str, Step]) -> bool:
    """The join after a ``@parallel`` step: it has no ``input-paths`` parameter."""
    return (step.type == "join" and bool(step.in_funcs)
            and is_parallel_step(steps[step.in_funcs[0]]))


def gang_outputs(step_name: str) -> dict[str, str]:
    """The foreach step's ``num-parallel`` and ``task-id-entropy`` outputs, as task arguments."""
    return {name: "{{tasks.%s.outputs.parameters.%s}}" % (step_name, name)
            for name in (NUM_PARALLEL, ENTROPY)}


def dag_task_parameters(retries: int) -> list[dict[str, Any]]:
    """The arguments of the ``@parallel`` step's DAG task inside the jump-off sub-DAG (no
    ``depends``); the JobSet name carries the retry number when the step can be retried
    (Kubernetes refuses a second JobSet of the same name)."""
    out = [{"name": "input-paths", "value": "{{inputs.parameters.input-paths}}"},
           {"name": NUM_PARALLEL, "value": "{{inputs.parameters.num-parallel}}"},
           {"name": "split-index", "value": "{{inputs.parameters.split-index}}"},
           {"name": ENTROPY, "value": "{{inputs.parameters.task-id-entropy}}"},
           {"name": WORKER_COUNT, "value": WORKER_COUNT_VALUE}]
    if retries:
        out += [{"name": RETRY_COUNT, "value": "{{retries}}"},
                {"name": JOBSET_NAME, "value": "js-{{inputs.parameters.task-id-entropy}}{{retries}}"}]
    else:
        out.append({"name": JOBSET_NAME, "value": "js-{{inputs.parameters.task-id-entropy}}"})
    return out


def join_input_paths(run_id: str, parallel_step: str) -> str:
    """The join's input paths, rebuilt from the gang's size and entropy at run time."""
    return ("$(python -m metaflow.plugins.argo.jobset_input_paths %s %s "
            "{{inputs.parameters.task-id-entropy}} {{inputs.parameters.num-parallel}})"
            % (run_id, parallel_step))
