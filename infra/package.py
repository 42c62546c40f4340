"""The code package tasks download: a content-addressed tarball of the flow files.

Shared by every backend. Pure given its inputs (file contents are passed in by the caller).
FIRST VERSION: a deterministic tgz of the flowspecs files; to be completed with Metaflow's own
layout (``.mf_code/`` with the metaflow library, INFO, config values) so that the task command's
``tar -xzf job.tar`` + ``python <flow>.py`` work (issue 4).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

# metaflow_config.DEFAULT_PACKAGE_SUFFIXES: what Metaflow packages from the flow's folder.
PACKAGE_SUFFIXES = (".py", ".R", ".RDS")


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
