"""The code package of one flow as a content-addressed S3 object (shared by every backend).

``s3://<datastore bucket>/<prefix>/<Flow>/data/<sha[:2]>/<sha>``: where Metaflow's own deployers
upload it and where the task command downloads it from (``METAFLOW_CODE_URL``,
docs/metaflow-contract.md#code-package). The upload reads ``source``, a file named by the
package's sha (:func:`flowstacks.deploy.packages.package_file`), with the sha as ``source_hash``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from flowstacks.load.code_package import CodePackage


@dataclass(frozen=True)
class CodePackageArgs:
    package: CodePackage
    source: Path  # the package's bytes
    tags: dict[str, str]


class CodePackageObject(pulumi.ComponentResource):
    """One ``aws.s3.BucketObjectv2`` (named like the component) at the package's address."""

    def __init__(self, name: str, args: CodePackageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:package:CodePackage", name, None, opts)
        package = args.package
        self.url = package.url
        self.object = aws.s3.BucketObjectv2(
            name, bucket=package.bucket, key=package.key, source=pulumi.FileAsset(str(args.source)),
            content_type="application/gzip", source_hash=package.sha, tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self))
        self.resources = [self.object]
        self.register_outputs({"url": package.url, "sha": package.sha})
