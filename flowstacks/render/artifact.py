"""A file a renderer produces for reviewers (ASL, Argo YAML, DAG source, IAM document)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """``path`` is relative to ``OUT/<stack>/`` (e.g. ``step-functions/<name>.asl.json``).
    ``written``: already on disk (see :class:`flowstacks.deploy.artifact_sink.ArtifactSink`); ``content``
    is then empty."""

    path: str
    content: str
    written: bool = False
