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


def package_resource_name(flow_resource: str, sha: str) -> str:
    """The package's resource name: keyed by its sha, so a new package is a new resource (a create)
    and the old one a retained delete, never a replacement of an object past runs still read."""
    return f"{flow_resource}-{sha[:16]}"


class CodePackageObject(pulumi.ComponentResource):
    """One ``aws.s3.BucketObjectv2`` (named like the component) at the package's address, kept in
    S3 when it leaves the stack (``retainOnDelete``, like Metaflow, which never deletes packages:
    runs in progress, ``resume`` and past runs download it) and therefore not protected."""

    def __init__(self, name: str, args: CodePackageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:package:CodePackage", name, None, opts)
        package = args.package
        self.url = package.url
        self.object = aws.s3.BucketObjectv2(
            name, bucket=package.bucket, key=package.key, source=pulumi.FileAsset(str(args.source)),
            content_type="application/gzip", source_hash=package.sha, tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))
        self.resources = [self.object]
        self.register_outputs({"url": package.url, "sha": package.sha})


def package_object(flow_resource: str, package: CodePackage, source: Path, tags: dict[str, str],
                   opts: pulumi.ResourceOptions) -> CodePackageObject:
    """The package of one flow, named by :func:`package_resource_name` (every backend's way)."""
    return CodePackageObject(package_resource_name(flow_resource, package.sha),
                             CodePackageArgs(package, source, tags), opts)
