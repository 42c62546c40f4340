"""The code package tasks download: a content-addressed tarball laid out like Metaflow's own.

Shared by every backend. Metaflow 2.19.39 (``metaflow/package``, ``packaging_sys/v1.py``,
``mfcontent_version`` 1) builds a tgz with:

- the flow's folder at the root (files with ``DEFAULT_PACKAGE_SUFFIXES``), so that
  ``python <flow>.py ...`` works right after ``tar -xzf job.tar`` (docs/metaflow-contract.md#step-command);
- Metaflow's own code under ``.mf_code/`` (``.mf_code/metaflow/...``): the task command puts
  ``$(pwd)/.mf_code`` first on ``PYTHONPATH``, so tasks run the deployer's Metaflow;
- ``.mf_meta/INFO`` (environment info), ``.mf_meta/CONFIG`` (``{"user_configs": {name:
  [value, plain]}}``: the Config values that ``kv.<name>`` in ``METAFLOW_FLOW_CONFIG_VALUE``
  points at), ``.mf_meta/DIST_INFO`` and the ``.mf_install`` marker.

:func:`build_code_package` is pure (file contents are passed in);
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

from flowstacks.render.serialize import metaflow_json

# metaflow_config.DEFAULT_PACKAGE_SUFFIXES: what Metaflow packages from the flow's folder.
PACKAGE_SUFFIXES = (".py", ".R", ".RDS")
# MetaflowCodeContentV1.METAFLOW_SUFFIXES_LIST: what it packages of Metaflow itself.
METAFLOW_SUFFIXES = (".py", ".html", ".css", ".js")
CODE_DIR = ".mf_code"  # MetaflowCodeContentV1Base._code_dir
META_DIR = ".mf_meta"  # MetaflowCodeContentV1Base._other_dir
MFCONTENT_MARKER = ".mf_install"  # packaging_sys.MFCONTENT_MARKER
CONFIG_MODULE = "flowstacks_config.py"  # the flowstacks config is not flow code
GZIP_LEVEL = 6  # zlib's default trade-off; level 9 tripled synth time for 1% smaller packages


@dataclass(frozen=True)
class CodePackage:
    """A package: its bytes are the concatenation of ``parts`` (gzip members, see
    :func:`assemble`), kept apart so that shared members are held once in memory."""

    sha: str  # sha1 of the blob, as Metaflow names it (METAFLOW_CODE_SHA)
    flow_name: str
    datastore_root: str  # s3://bucket/prefix
    parts: tuple[bytes, ...] = ()

    @property
    def blob(self) -> bytes:
        return b"".join(self.parts)

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


@dataclass(frozen=True)
class Segment:
    """Tar entries (no end-of-archive) compressed as one gzip member, with their raw length."""

    data: bytes
    raw_length: int


def segment(files: dict[str, bytes]) -> Segment:
    """Deterministic tar entries (sorted names, zero mtimes, fixed owner) of ``files``, gzipped.

    A .tgz may hold several gzip members: ``tar -xzf`` (and Python's tarfile) read them as one
    stream. So the large members every package shares (Metaflow's code, the flow folder) are
    compressed once and reused; only the small per-flow member is compressed per package."""
    raw = io.BytesIO()
    tar = tarfile.TarFile(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
    for path in sorted(files):
        info = tarfile.TarInfo(path)
        info.size = len(files[path])
        info.mtime = 0
        info.mode = 0o644
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(files[path]))
    # no tar.close(): the end-of-archive blocks are written once, after the last segment
    data = raw.getvalue()
    return Segment(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0), len(data))


def end_of_archive(raw_length: int) -> Segment:
    """Two zero blocks, then zeros up to a whole tar record, as tarfile.close() writes them."""
    tail = 2 * tarfile.BLOCKSIZE
    remainder = (raw_length + tail) % tarfile.RECORDSIZE
    if remainder:
        tail += tarfile.RECORDSIZE - remainder
    return Segment(gzip.compress(bytes(tail), compresslevel=GZIP_LEVEL, mtime=0), tail)


_SHA1_OF: dict[bytes, Any] = {}  # a shared segment's bytes -> the SHA-1 state after them


def _sha1_of(data: bytes) -> Any:
    """The SHA-1 state after ``data``, remembered for the last few segments that began a
    package (every package of a synth begins with the same one: its hash is computed once)."""
    state = _SHA1_OF.get(data)
    if state is None:
        if len(_SHA1_OF) >= 4:
            _SHA1_OF.clear()
        state = _SHA1_OF[data] = hashlib.sha1(data)
    return state


def assemble(segments: list[Segment], flow_name: str, datastore_root: str) -> CodePackage:
    """The package made of ``segments`` in order, closed with the end-of-archive member."""
    parts = [seg.data for seg in segments]
    parts.append(end_of_archive(sum(seg.raw_length for seg in segments)).data)
    digest = _sha1_of(parts[0]).copy()  # the first segment (Metaflow's code) is shared
    for part in parts[1:]:
        digest.update(part)
    return CodePackage(sha=digest.hexdigest(), flow_name=flow_name, datastore_root=datastore_root,
                       parts=tuple(parts))


def build_code_package(files: dict[str, bytes], flow_name: str, datastore_root: str) -> CodePackage:
    """A package of ``files`` (path -> bytes) in one member."""
    return assemble([segment(files)], flow_name, datastore_root)


def meta_members(info: dict[str, Any], configs: dict[str, tuple[Any, bool]]) -> dict[str, bytes]:
    """The per-flow members: ``.mf_meta/{INFO,CONFIG,DIST_INFO}``."""
    return {
        f"{META_DIR}/INFO": _json(info),
        f"{META_DIR}/CONFIG": _json(
            {"user_configs": {k: [v, plain] for k, (v, plain) in configs.items()}} if configs else {}),
        f"{META_DIR}/DIST_INFO": _json({}),
    }


def metaflow_members(metaflow_files: dict[str, bytes]) -> dict[str, bytes]:
    """Metaflow's own code under ``.mf_code/`` and the ``.mf_install`` marker."""
    members = {f"{CODE_DIR}/{path}": data for path, data in metaflow_files.items()}
    members[MFCONTENT_MARKER] = _json({"version": 1, "module_files": []})
    return members


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

