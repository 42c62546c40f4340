"""The DynamoDB table a Step Functions namespace keeps Metaflow's foreach state in (issue 16)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flowstacks.doctor.prereqs import TABLE_HASH_KEY, TABLE_TTL_ATTRIBUTE


@dataclass(frozen=True)
class ForeachStateTableArgs:
    name: str  # flowstacks.naming.namespace.sfn_state_table_name of the namespace
    tags: dict[str, str]


class ForeachStateTable(pulumi.ComponentResource):
    """``aws.dynamodb.Table`` (logical name ``<name>-table``) with Metaflow's schema: hash key
    ``pathspec`` (a string), items expiring through ``ttl`` (docs/metaflow-contract.md#foreach-state);
    on demand (``PAY_PER_REQUEST``: a foreach writes a few items per run), encrypted at rest with
    the account's AWS managed key ``aws/dynamodb`` (which needs no KMS grant in any role). It holds
    only the in-flight join state of this namespace's runs, so destroying the stack may delete it;
    prod's is protected with the rest of the stack."""

    def __init__(self, name: str, args: ForeachStateTableArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:sfn:ForeachStateTable", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table", name=args.name, billing_mode="PAY_PER_REQUEST",
            hash_key=TABLE_HASH_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=TABLE_HASH_KEY, type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TABLE_TTL_ATTRIBUTE, enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            tags=args.tags, opts=pulumi.ResourceOptions(parent=self))
        self.arn = self.table.arn
        self.register_outputs({"name": args.name, "arn": self.arn})
