"""The code package of one flow as a content-addressed S3 object (shared by every backend).

``s3://<datastore bucket>/<prefix>/<Flow>/data/<sha[:2]>/<sha>``: where Metaflow's own deployers
upload it and where the task command downloads it from (``METAFLOW_CODE_URL``).
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath

import pulumi
import pulumi_aws as aws

from infra import package as pkg
from infra.model.deployment import FlowDeployment, StackContext
from infra.render.sfn import image_python_version

_METAFLOW_FILES: dict[str, bytes] = {}
_PACKAGES: dict[tuple, pkg.CodePackage] = {}


def _metaflow_files() -> dict[str, bytes]:
    # Reading the installed metaflow package is the slow part: once per process.
    if not _METAFLOW_FILES:
        _METAFLOW_FILES.update(pkg.collect_metaflow_files())
    return _METAFLOW_FILES


def build_flow_package(ctx: StackContext, fd: FlowDeployment, project_dir: Path) -> pkg.CodePackage:
    """The deterministic package of ``fd``: its folder, Metaflow, INFO and its Config values.
    Reads the disk (flow folder, installed Metaflow); the archive itself is built purely."""
    flow_dir = Path(project_dir) / PurePosixPath(fd.flow.file).parent
    info = pkg.environment_info(ctx.owner, PurePosixPath(fd.flow.file).name,
                                pkg.installed_metaflow_version(),
                                image_python_version(ctx.config.compute.image))
    configs = {c.name: (c.value, c.plain) for c in fd.flow.configs}
    flow_files = pkg.collect_flow_files(flow_dir)
    key = (fd.flow.name, ctx.config.aws.datastore_root, repr(sorted(info.items())),
           repr(sorted(configs.items())), tuple(sorted((p, hash(b)) for p, b in flow_files.items())))
    if key not in _PACKAGES:  # several stacks in one synth share identical packages
        members = pkg.package_members(flow_files, _metaflow_files(), info, configs)
        _PACKAGES[key] = pkg.build_code_package(members, fd.flow.name, ctx.config.aws.datastore_root)
    return _PACKAGES[key]


class CodePackageObject(pulumi.ComponentResource):
    """One ``aws.s3.BucketObjectv2`` at the package's content address."""

    def __init__(self, name: str, *, package: pkg.CodePackage, tags: dict[str, str],
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:package:CodePackage", name, None, opts)
        self.url = package.url
        self.object = aws.s3.BucketObjectv2(
            name, bucket=package.bucket, key=package.key,
            content_base64=base64.b64encode(package.blob).decode("ascii"),
            content_type="application/gzip", source_hash=package.sha, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect))
        self.register_outputs({"url": package.url, "sha": package.sha})
