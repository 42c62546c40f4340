"""The code package tasks download: a content-addressed tarball laid out like Metaflow's own.

Shared by every backend. Metaflow 2.19.39 (``metaflow/package``, ``packaging_sys/v1.py``,
``mfcontent_version`` 1) builds a tgz with:

- the flow's folder at the root (files with ``DEFAULT_PACKAGE_SUFFIXES``), so that
  ``python <flow>.py ...`` works right after ``tar -xzf job.tar`` (SPEC §4 task command);
- Metaflow's own code under ``.mf_code/`` (``.mf_code/metaflow/...``): the task command puts
  ``$(pwd)/.mf_code`` first on ``PYTHONPATH``, so tasks run the deployer's Metaflow;
- ``.mf_meta/INFO`` (environment info), ``.mf_meta/CONFIG`` (``{"user_configs": {name:
  [value, plain]}}``: the Config values that ``kv.<name>`` in ``METAFLOW_FLOW_CONFIG_VALUE``
  points at), ``.mf_meta/DIST_INFO`` and the ``.mf_install`` marker.

:func:`build_code_package` and :func:`package_members` are pure (file contents are passed in);
:func:`collect_flow_files` and :func:`collect_metaflow_files` are the only functions here that
read the disk, and only components call them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.render.serialize import metaflow_json

# metaflow_config.DEFAULT_PACKAGE_SUFFIXES: what Metaflow packages from the flow's folder.
PACKAGE_SUFFIXES = (".py", ".R", ".RDS")
# MetaflowCodeContentV1.METAFLOW_SUFFIXES_LIST: what it packages of Metaflow itself.
METAFLOW_SUFFIXES = (".py", ".html", ".css", ".js")
CODE_DIR = ".mf_code"  # MetaflowCodeContentV1Base._code_dir
META_DIR = ".mf_meta"  # MetaflowCodeContentV1Base._other_dir
MFCONTENT_MARKER = ".mf_install"  # packaging_sys.MFCONTENT_MARKER
CONFIG_MODULE = "flowstacks_config.py"  # the flowstacks config is not flow code


@dataclass(frozen=True)
class CodePackage:
    sha: str  # sha1 of the blob, as Metaflow names it (METAFLOW_CODE_SHA)
    blob: bytes
    flow_name: str
    datastore_root: str  # s3://bucket/prefix

    @property
    def key(self) -> str:
        """``<prefix>/<Flow>/data/<sha[:2]>/<sha>``: Metaflow's content-addressed data path."""
        bucket_and_prefix = self.datastore_root[len("s3://"):]
        prefix = bucket_and_prefix.split("/", 1)[1] if "/" in bucket_and_prefix else ""
        parts = [prefix] if prefix else []
        return "/".join(parts + [self.flow_name, "data", self.sha[:2], self.sha])

    @property
    def bucket(self) -> str:
        return self.datastore_root[len("s3://"):].split("/", 1)[0]

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _sorted(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _sorted(data[k]) for k in sorted(data)}
    if isinstance(data, (list, tuple)):
        return [_sorted(v) for v in data]
    return data


def _json(data: Any) -> bytes:
    # Metaflow writes these members as Python-default JSON (metaflow_json); keys sorted here so
    # the package, and with it the content address, does not depend on dict order.
    return metaflow_json(_sorted(data)).encode("utf-8")


def environment_info(owner: str, script: str, metaflow_version: str, python_version: str
                     ) -> dict[str, Any]:
    """``.mf_meta/INFO``: ``MetaflowEnvironment.get_environment_info(include_ext_info=True)``,
    with the deployer's machine details replaced by stable values (no hostname, no clock)."""
    return {
        "platform": "Linux",
        "username": owner,
        "runtime": "dev",
        "environment_type": "local",
        "use_r": False,
        "python_version": python_version,
        "python_version_code": python_version,
        "metaflow_version": metaflow_version,
        "script": script,
        "ext_info": [{}, {}],  # extension_support.dump_module_info() without extensions
    }


def package_members(flow_files: dict[str, bytes], metaflow_files: dict[str, bytes],
                    info: dict[str, Any], configs: dict[str, tuple[Any, bool]]
                    ) -> dict[str, bytes]:
    """Archive path -> content, in Metaflow's layout (see the module docstring).

    ``flow_files`` are relative to the flow's folder; ``metaflow_files`` relative to the folder
    that holds the ``metaflow`` package (``metaflow/__init__.py``...); ``configs`` maps each
    Config name to ``(value, plain)``."""
    members = {path: data for path, data in flow_files.items()}
    for path, data in metaflow_files.items():
        members[f"{CODE_DIR}/{path}"] = data
    members[f"{META_DIR}/INFO"] = _json(info)
    members[f"{META_DIR}/CONFIG"] = _json(
        {"user_configs": {k: [v, plain] for k, (v, plain) in configs.items()}} if configs else {})
    members[f"{META_DIR}/DIST_INFO"] = _json({})
    members[MFCONTENT_MARKER] = _json({"version": 1, "module_files": []})
    return members


def build_code_package(files: dict[str, bytes], flow_name: str, datastore_root: str) -> CodePackage:
    """Deterministic tgz (sorted names, zero mtimes, fixed owner) of ``files`` (path -> bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mtime = 0
            info.mode = 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[path]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    blob = out.getvalue()
    return CodePackage(sha=hashlib.sha1(blob).hexdigest(), blob=blob, flow_name=flow_name,
                       datastore_root=datastore_root)


# -- I/O: only components call these ------------------------------------------------------------
def _walk(root: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or "__pycache__" in rel.parts:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue  # packaging_sys.utils.walk(exclude_hidden=True) for user code
        if path.name.endswith(suffixes):
            files[rel.as_posix()] = path.read_bytes()
    return files


def collect_flow_files(flow_dir: Path) -> dict[str, bytes]:
    """The flow folder's files Metaflow would package (``*.py``, ``*.R``, ``*.RDS``), relative
    to ``flow_dir``, without the flowstacks config (it imports ``infra``, absent in tasks)."""
    files = _walk(Path(flow_dir), PACKAGE_SUFFIXES)
    files.pop(CONFIG_MODULE, None)
    return files


def collect_metaflow_files() -> dict[str, bytes]:
    """The installed ``metaflow`` package's files, as ``metaflow/...`` paths."""
    import metaflow  # the deployer's Metaflow, as Metaflow itself packages it

    root = Path(metaflow.__file__).parent
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root.parent)
        if path.is_file() and "__pycache__" not in rel.parts and path.name.endswith(METAFLOW_SUFFIXES):
            files[rel.as_posix()] = path.read_bytes()
    return files


def installed_metaflow_version() -> str:
    """The version of the deployer's Metaflow (what tasks will run from ``.mf_code``)."""
    from metaflow.metaflow_version import get_version

    return get_version()

