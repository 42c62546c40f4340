"""One Airflow DAG file in the DAGs bucket, where MWAA (or any S3-synced Airflow) reads it."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_aws as aws

from flowstacks.deploy.components.secrets import reveal


class AirflowDag(pulumi.ComponentResource):
    """``s3://<dags_bucket>/<dags_prefix><dag_id>.py`` holding the rendered DAG source.

    ``source_hash`` (sha256 of the source) makes every content change an update even where the
    bucket's encryption makes the S3 ETag differ from an MD5 of the content.
    """

    def __init__(self, name: str, *, bucket: str, key: str, source: str, tags: dict[str, str],
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:airflow:Dag", name, None, opts)
        self.object = aws.s3.BucketObjectv2(
            name,
            bucket=bucket,
            key=key,
            content=reveal(source),
            content_type="text/x-python",
            source_hash=hashlib.sha256(source.encode("utf-8")).hexdigest(),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.key = self.object.key
        self.resources = [self.object]
        self.register_outputs({"bucket": bucket, "key": self.object.key})
