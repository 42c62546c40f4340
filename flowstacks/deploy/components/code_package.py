"""The code package of one flow as a content-addressed S3 object (shared by every backend).

``s3://<datastore bucket>/<prefix>/<Flow>/data/<sha[:2]>/<sha>``: where Metaflow's own deployers
upload it and where the task command downloads it from (``METAFLOW_CODE_URL``).

The package is a ``pulumi.FileAsset`` in ``<project>/.flowstacks/packages/<sha>.tgz`` with its sha
as ``source_hash``. Under ``flowstacks synth`` (Pulumi config ``flowstacks:offline``) the file is
not written: the mock engine never reads it, and the manifest records the asset by name.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pulumi
import pulumi_aws as aws

from flowstacks.load import code_package as pkg
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.render.metaflow_runtime import image_python_version

PACKAGE_DIR = ".flowstacks/packages"
# Per process: what every package of a synth shares, read and compressed once.
_METAFLOW: list[pkg.Segment] = []
_FOLDERS: dict[str, pkg.Segment] = {}
_PACKAGES: dict[tuple, pkg.CodePackage] = {}


def _metaflow_segment() -> pkg.Segment:
    if not _METAFLOW:  # reading and compressing the installed metaflow is the slow part
        _METAFLOW.append(pkg.segment(pkg.metaflow_members(pkg.collect_metaflow_files())))
    return _METAFLOW[0]


def _folder_segment(flow_dir: Path) -> pkg.Segment:
    key = str(flow_dir.resolve())
    if key not in _FOLDERS:
        _FOLDERS[key] = pkg.segment(pkg.collect_flow_files(flow_dir))
    return _FOLDERS[key]


def build_flow_package(ctx: StackContext, fd: FlowDeployment, project_dir: Path) -> pkg.CodePackage:
    """The deterministic package of ``fd``: Metaflow, INFO and its Config values, its folder.
    Reads the disk (flow folder, installed Metaflow) once per process; the archive is pure."""
    flow_dir = Path(project_dir) / PurePosixPath(fd.flow.file).parent
    info = pkg.environment_info(ctx.owner, PurePosixPath(fd.flow.file).name,
                                pkg.installed_metaflow_version(),
                                image_python_version(ctx.config.compute.image))
    configs = {c.name: (c.value, c.plain) for c in fd.flow.configs}
    key = (fd.flow.name, str(flow_dir.resolve()), ctx.config.aws.datastore_root,
           repr(sorted(info.items())), repr(sorted(configs.items())))
    if key not in _PACKAGES:  # several stacks in one synth share identical packages
        segments = [_metaflow_segment(), pkg.segment(pkg.meta_members(info, configs)),
                    _folder_segment(flow_dir)]
        _PACKAGES[key] = pkg.assemble(segments, fd.flow.name, ctx.config.aws.datastore_root)
    return _PACKAGES[key]


def package_file(package: pkg.CodePackage, project_dir: Path, write: bool) -> Path:
    """Where the package's bytes live for the upload (written once, content-addressed)."""
    path = Path(project_dir) / PACKAGE_DIR / f"{package.sha}.tgz"
    if write and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(package.blob)
        tmp.replace(path)
    return path


class CodePackageObject(pulumi.ComponentResource):
    """One ``aws.s3.BucketObjectv2`` at the package's content address."""

    def __init__(self, name: str, *, package: pkg.CodePackage, tags: dict[str, str],
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:package:CodePackage", name, None, opts)
        config = pulumi.Config("flowstacks")
        source = package_file(package, Path(config.get("projectDir") or "."),
                              write=not config.get_bool("offline"))
        self.url = package.url
        self.object = aws.s3.BucketObjectv2(
            name, bucket=package.bucket, key=package.key, source=pulumi.FileAsset(str(source)),
            content_type="application/gzip", source_hash=package.sha, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect))
        self.resources = [self.object]
        self.register_outputs({"url": package.url, "sha": package.sha})
