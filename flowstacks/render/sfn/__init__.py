"""The Step Functions backend: one flow in one namespace -> ASL definition, AWS Batch job
definitions, the permissions its states need, and the EventBridge rules that start it.

Modules: :mod:`.states` (the ASL, entry point), :mod:`.env` (Batch parameters and container env),
:mod:`.command` (the task command), :mod:`.batch` (@batch attributes, job definitions),
:mod:`.checks` (what Metaflow refuses), :mod:`.events` (rules), :mod:`.context`.
"""

from flowstacks.render.sfn.batch import JobDefinitionSpec
from flowstacks.render.sfn.checks import check_flow
from flowstacks.render.sfn.context import SfnInputs, partition
from flowstacks.render.sfn.events import SCHEDULE_INPUT, EventRuleSpec, event_rules
from flowstacks.render.sfn.states import (
    OUTPUT_PATH, SfnRendering, StateNeeds, job_definition_ref, render_state_machine,
    resolve_references_json,
)

__all__ = [
    "OUTPUT_PATH", "SCHEDULE_INPUT", "EventRuleSpec", "JobDefinitionSpec", "SfnInputs",
    "SfnRendering", "StateNeeds", "check_flow", "event_rules", "job_definition_ref", "partition",
    "render_state_machine", "resolve_references_json",
]
