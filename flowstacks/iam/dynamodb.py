"""What Metaflow's Step Functions runtime keeps in DynamoDB, and how far IAM can confine it (pure).

Metaflow 2.19.39 keys every item by the AWS Batch job id of the foreach split task
(``plugins/aws/step_functions/step_functions_decorator.py`` task_finished:
``_save_foreach_cardinality(os.environ["AWS_BATCH_JOB_ID"], ...)``, with the comment "Since we
can't generate the full path spec within AWS Step Function DynamoDb Get task, we will just key
by task id for now"; ``dynamo_db_client.py`` writes ``pathspec`` = that id,
``for_each_cardinality``, ``ttl`` and ``parent_task_ids_for_foreach_join``; the state machine's
``dynamodb:getItem`` task reads ``Key: {"pathspec": {"S.$": "$.JobId"}}``, step_functions.py
``dynamo_db``). The hash key is a random job UUID: nothing in it names the project, flow or
namespace, so ``dynamodb:LeadingKeys`` cannot tell one namespace's items from another's.

So namespaces are kept apart by table, not by key (issue 16): every Step Functions stack creates
and owns its own table (``[PREFIX_]<project>.<branch>.sfn-state``,
:func:`flowstacks.naming.namespace.sfn_state_table_name`), and its roles get item actions on that
one table ARN only: the task role ``GetItem``/``PutItem``/``UpdateItem`` restricted to the
attributes Metaflow writes (``dynamodb:Attributes``), the execution role ``GetItem``; the deployer
manages that table and no other. With ``dynamodb_table_layout='shared'`` (an explicit opt-in) the
namespaces configured with one table share it again, and a task of one could write an item of
another whose Batch job id it knows (task roles may not list or describe Batch jobs, so it would
have to guess a UUID).
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.deployment import StackContext

# dynamo_db_client.py: the key and every attribute Metaflow reads or writes
ITEM_ATTRIBUTES = ("pathspec", "for_each_cardinality", "parent_task_ids_for_foreach_join", "ttl")


def leading_keys_condition(ctx: StackContext) -> dict[str, Any]:
    """The condition on a task role's item actions: Metaflow's attributes only (see the module
    docstring for why the leading key cannot be scoped)."""
    return {"ForAllValues:StringEquals": {"dynamodb:Attributes": list(ITEM_ATTRIBUTES)}}
