"""``IncludeFile`` defaults as Metaflow deploys them (docs/metaflow-contract.md#includefile).

Metaflow 2.19.39 ``includefile.py``: at ``step-functions create`` / ``argo-workflows create`` /
``airflow create`` the default file is evaluated (``IncludeFile._eval_default``) and stored by
``UploaderV2.store`` -> ``UploaderV1.store``: the file's bytes, gzipped (compresslevel 3), are put
at ``os.path.join(DATATOOLS_S3ROOT, flow_name, sha1(bytes))`` (``overwrite=False``), and the
parameter's default becomes the descriptor as JSON (Python's default separators)::

    {"type": "uploader-v2", "url": "s3://...", "is_text": true, "encoding": "utf-8",
     "note": "Internal representation of IncludeFile", "sub-type": "uploaded", "size": N}

(keys in that order: ``encode_url`` makes type, url, is_text, encoding; ``store`` adds the rest).
A task reads it back with ``UploaderV2.load`` (gunzip, then decode when ``is_text``).

flowstacks reads the file when the flow is loaded (relative to the flow file's folder: Metaflow
reads it relative to the working directory, which is the flow's folder when run as
``python flow.py``), and the stack uploads it as an S3 object it owns, kept on delete
(:mod:`flowstacks.deploy.components.include_file`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

from flowstacks.model.flow import Flow, IncludedFile
from flowstacks.render.metaflow_runtime import datatools_root
from flowstacks.render.serialize import metaflow_json

NOTE = "Internal representation of IncludeFile"
GZIP_LEVEL = 3  # UploaderV1.store


def read_included(path: Path, project_dir: Path, is_text: bool, encoding: str) -> IncludedFile:
    """The facts of one default file (``OSError`` if it cannot be read)."""
    data = path.read_bytes()
    try:
        source = path.resolve().relative_to(Path(project_dir).resolve()).as_posix()
    except ValueError:
        source = str(path)
    return IncludedFile(source=source, sha1=hashlib.sha1(data).hexdigest(), size=len(data),
                        is_text=is_text, encoding=encoding)


def object_url(datastore_root: str, flow_name: str, inc: IncludedFile) -> str:
    """``s3://<bucket>/<datatools prefix>/<Flow>/<sha1>``: where Metaflow puts the file."""
    return f"{datatools_root(datastore_root.rstrip('/'))}/{flow_name}/{inc.sha1}"


def descriptor(datastore_root: str, flow_name: str, inc: IncludedFile) -> str:
    """The parameter default Metaflow deploys: the uploader-v2 descriptor as Metaflow writes it."""
    return metaflow_json({
        "type": "uploader-v2", "url": object_url(datastore_root, flow_name, inc),
        "is_text": inc.is_text, "encoding": inc.encoding, "note": NOTE,
        "sub-type": "uploaded", "size": inc.size,
    })


def resolve_include_files(flow: Flow, datastore_root: str) -> Flow:
    """``flow`` with each IncludeFile default set to its descriptor in this datastore."""
    if not any(p.include_file for p in flow.parameters):
        return flow
    params = tuple(
        p.model_copy(update={"default": descriptor(datastore_root, flow.name, p.include_file)})
        if p.include_file else p for p in flow.parameters)
    return flow.model_copy(update={"parameters": params})


def gzipped(data: bytes) -> bytes:
    """The object's bytes: gzip at Metaflow's level, with a zero mtime (Metaflow's header holds
    the upload time; a fixed one keeps the object, and the stack, unchanged when the file is)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as f:
        f.write(data)
    return buf.getvalue()
