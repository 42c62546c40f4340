"""One Airflow DAG file in the DAGs bucket, where MWAA (or any S3-synced Airflow) reads it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from flowstacks.deploy.secrets import Secrets, reveal


@dataclass(frozen=True)
class AirflowDagArgs:
    bucket: str
    key: str  # <dags_prefix><dag_id>.py
    source: str  # the rendered DAG file (secret placeholders filled in here)
    tags: dict[str, str]
    secrets: Secrets = field(default_factory=dict)


class AirflowDag(pulumi.ComponentResource):
    """``s3://<bucket>/<key>`` (named like the component) holding the rendered DAG source.

    ``source_hash`` (sha256 of the source) makes every content change an update even where the
    bucket's encryption makes the S3 ETag differ from an MD5 of the content.
    """

    def __init__(self, name: str, args: AirflowDagArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:airflow:Dag", name, None, opts)
        self.object = aws.s3.BucketObjectv2(
            name,
            bucket=args.bucket,
            key=args.key,
            content=reveal(args.source, args.secrets),
            content_type="text/x-python",
            source_hash=hashlib.sha256(args.source.encode("utf-8")).hexdigest(),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key = self.object.key
        self.resources = [self.object]
        self.register_outputs({"bucket": args.bucket, "key": self.object.key})
