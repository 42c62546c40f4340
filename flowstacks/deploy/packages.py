"""The code package of each flow, built once per process and written where the upload reads it.

Reads the disk (the flow folder, the installed Metaflow) and caches what every package of a
synth shares; the archive itself is made by the pure builders of :mod:`flowstacks.load.code_package`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from flowstacks.load import code_package as pkg
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.render.metaflow_runtime import image_python_version

if TYPE_CHECKING:
    from flowstacks.load.project import ProjectDir

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


def prepare_shared(project: "ProjectDir") -> None:
    """Read and compress what every package of ``project`` shares (the installed Metaflow, each
    flow folder) now: ``synth --jobs`` does it once before its processes fork, which inherit it."""
    _metaflow_segment()
    for flow in project.default_flows:
        _folder_segment(project.root / PurePosixPath(flow.file).parent)


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
    """Where the package's bytes live for the upload: ``<project>/.flowstacks/packages/<sha>.tgz``
    (written once, content-addressed; not written offline, where the mock engine reads no
    asset and the manifest records it by name)."""
    path = Path(project_dir) / PACKAGE_DIR / f"{package.sha}.tgz"
    if write and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(package.blob)
        tmp.replace(path)
    return path
