"""The per-namespace datastore layout (issue 16) keeps every run readable by the Metaflow client.

Metaflow records each artifact's full location with the run's metadata
(``metadata_provider/metadata.py``: ``"location": art.url``), and the client reads an artifact
from the root it derives from that location (``client/core.py`` DataArtifact._load ->
``client/filecache.py`` get_artifact_by_location -> ``DataStoreStorage.
get_datastore_root_from_location``), not from the reader's own ``METAFLOW_DATASTORE_SYSROOT_S3``.
So a reader anywhere finds a run of any namespace, given read access to its root.
"""

from __future__ import annotations

import pytest

from flowstacks.load.project import ProjectDir
from tests.conftest import EXAMPLE_STACKS, REPO


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_metaflow_client_finds_the_namespace_root_of_an_artifact(stack):
    from metaflow.plugins.datastores.s3_storage import S3Storage

    ctx = ProjectDir(REPO, "step-functions").stack_context(stack)
    root = ctx.config.aws.datastore_root
    assert root == f"s3://example-metaflow/metaflow/{ctx.branch_name}"
    # where a task of this namespace writes a content-addressed artifact of TrainFlow
    # (datastore/content_addressed_store.py: <root>/<Flow>/data/<sha[:2]>/<sha>)
    location = f"{root}/TrainFlow/data/ab/ab{'0' * 38}"
    assert S3Storage.get_datastore_root_from_location(location, "TrainFlow") == root
    # a reader configured with another namespace's root still gets this one
    with pytest.raises(Exception):
        S3Storage.get_datastore_root_from_location(location, "OtherFlow")


def test_namespace_roots_never_nest():
    """No namespace's root is a key prefix of another's (``prod`` vs ``prod.staging``): an IAM
    resource ``<root>/...`` of one never matches an object of another."""
    roots = [ProjectDir(REPO, "argo").stack_context(s).config.aws.datastore_root + "/"
             for s in EXAMPLE_STACKS]
    for a in roots:
        for b in roots:
            assert a == b or not b.startswith(a), (a, b)
