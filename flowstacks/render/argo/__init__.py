"""The Argo Workflows backend: one flow in one namespace -> WorkflowTemplate, CronWorkflow
(``@schedule``) and Argo Events Sensor (``@trigger``/``@trigger_on_finish``).

Modules: :mod:`.workflow` (entry point, the template), :mod:`.dag`, :mod:`.command`, :mod:`.env`,
:mod:`.events`, :mod:`.checks`.
"""

from flowstacks.render.argo.workflow import (
    EXECUTOR_RULES, ArgoObjects, creates_jobsets, executor_rules, render_flow,
)

__all__ = ["EXECUTOR_RULES", "ArgoObjects", "creates_jobsets", "executor_rules", "render_flow"]
