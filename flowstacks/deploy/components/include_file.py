"""The default file of an ``IncludeFile`` parameter as the S3 object Metaflow's deployers upload
(docs/metaflow-contract.md#includefile): gzipped, at ``<datatools root>/<Flow>/<sha1>``, the URL
of the descriptor that is the parameter's default. Owned by the stack that deploys the flow and
kept in S3 when it leaves the stack (``retainOnDelete``): past runs and ``resume`` read it, as
they read code packages (Metaflow never deletes either). Shared by every backend."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from flowstacks.errors import FlowstacksError
from flowstacks.load.include_files import gzipped, object_url
from flowstacks.model.flow import Flow, IncludedFile


@dataclass(frozen=True)
class IncludedFileArgs:
    url: str  # s3://bucket/key
    body: bytes  # the gzipped file
    sha1: str
    tags: dict[str, str]


class IncludedFileObject(pulumi.ComponentResource):
    """One ``aws.s3.BucketObjectv2`` holding the gzipped file at Metaflow's address."""

    def __init__(self, name: str, args: IncludedFileArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:package:IncludedFile", name, None, opts)
        bucket, _, key = args.url.removeprefix("s3://").partition("/")
        self.url = args.url
        self.object = aws.s3.BucketObjectv2(
            name, bucket=bucket, key=key,
            content_base64=base64.b64encode(args.body).decode("ascii"),
            content_type="application/gzip", tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))
        self.resources = [self.object]
        self.register_outputs({"url": args.url})


def _body(project_dir: Path, flow: Flow, inc: IncludedFile, parameter: str) -> bytes:
    path = Path(project_dir) / inc.source
    try:
        data = path.read_bytes()
    except OSError:
        raise FlowstacksError(f"IncludeFile: could not open file '{inc.source}' for reading",
                              where=f"{flow.file} ({flow.name}), parameter {parameter}") from None
    return gzipped(data)


def included_file_objects(flow_resource: str, flow: Flow, datastore_root: str, project_dir: Path,
                          tags: dict[str, str], opts: pulumi.ResourceOptions
                          ) -> list[IncludedFileObject]:
    """One object per IncludeFile default of ``flow`` (none without such parameters), named
    ``<flow resource>-include-<parameter>-<sha1[:12]>``: a changed file is a new object (and the
    old one a retained delete), as Metaflow's content-addressed key is."""
    out = []
    for p in flow.parameters:
        inc = p.include_file
        if inc is None:
            continue
        out.append(IncludedFileObject(
            f"{flow_resource}-include-{p.name}-{inc.sha1[:12]}",
            IncludedFileArgs(url=object_url(datastore_root, flow.name, inc),
                             body=_body(project_dir, flow, inc, p.name), sha1=inc.sha1,
                             tags=tags), opts))
    return out
