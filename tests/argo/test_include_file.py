"""IncludeFile on Argo: the default file is uploaded as a stack-owned object (as Metaflow's
deployer uploads it) at the URL the WorkflowTemplate's parameter default names."""

from __future__ import annotations

import json

from flowstacks.load.project import ProjectDir
from flowstacks.synth.engine import synth_stack

FLOW = '''from metaflow import FlowSpec, IncludeFile, project, step


@project(name="inc")
class IncFlow(FlowSpec):
    data = IncludeFile("data", default="data.csv")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    IncFlow()
'''


def test_include_file_uploaded_where_the_template_default_points(tmp_path):
    flows = tmp_path / "flowspecs"
    flows.mkdir()
    (flows / "inc_flow.py").write_text(FLOW)
    (flows / "data.csv").write_text("a,b\n1,2\n")
    manifest = synth_stack(ProjectDir(tmp_path, "argo"), "prod").manifest()
    template = next(r["inputs"] for r in manifest["resources"]
                    if r["type"].endswith(":WorkflowTemplate"))
    params = {p["name"]: p for p in template["spec"]["arguments"]["parameters"]}
    # Metaflow's Argo parameter values are JSON; the default is the descriptor's JSON text
    descriptor = json.loads(json.loads(params["data"]["value"]))
    assert descriptor["type"] == "uploader-v2"
    objects = [r for r in manifest["resources"] if r["type"].startswith("aws:s3/bucketObject")
               and "-include-data-" in r["name"]]
    obj, = objects
    bucket, _, key = descriptor["url"].removeprefix("s3://").partition("/")
    assert (obj["inputs"]["bucket"], obj["inputs"]["key"]) == (bucket, key)
    assert obj["retainOnDelete"] is True


def test_each_backends_deployer_may_write_its_included_files_and_no_other_stacks(tmp_path):
    """The deployer role writes the objects its stack owns (IAM evaluator), and a test stack's
    deployer cannot touch prod's."""
    from flowstacks.iam.deployer import deployer_role
    from flowstacks.iam.evaluate import Request, allows

    flows = tmp_path / "flowspecs"
    flows.mkdir()
    (flows / "inc_flow.py").write_text(FLOW)
    (flows / "data.csv").write_text("a,b\n1,2\n")
    for orchestrator in ("step-functions", "argo", "airflow"):
        project = ProjectDir(tmp_path, orchestrator)
        keys = {}
        for stack in ("prod", "test.b1"):
            manifest = synth_stack(project, stack).manifest()
            obj, = [r["inputs"] for r in manifest["resources"]
                    if r["type"].startswith("aws:s3/bucketObject") and "-include-" in r["name"]]
            keys[stack] = f"arn:aws:s3:::{obj['bucket']}/{obj['key']}"
        for stack in ("prod", "test.b1"):
            doc = deployer_role(project.stack_context(stack)).policies["deploy-namespace"]
            for owner, arn in keys.items():
                request = Request("s3:PutObject", arn, {})
                assert allows([doc], request) == (owner == stack), (orchestrator, stack, owner)


def test_annotation_carries_filepath_type_is_text_and_encoding(tmp_path):
    """ArgoWorkflows._process_parameters: an IncludeFile's entry in metaflow/parameters has type
    FilePath and, last, the FilePathClass's is_text and encoding (with or without a default)."""
    flows = tmp_path / "flowspecs"
    flows.mkdir()
    (flows / "inc_flow.py").write_text(FLOW.replace(
        '    data = IncludeFile("data", default="data.csv")\n',
        '    data = IncludeFile("data", default="data.csv")\n'
        '    raw_blob = IncludeFile("raw-blob", is_text=False, encoding="latin-1")\n'))
    (flows / "data.csv").write_text("a,b\n1,2\n")
    manifest = synth_stack(ProjectDir(tmp_path, "argo"), "prod").manifest()
    template = next(r["inputs"] for r in manifest["resources"]
                    if r["type"].endswith(":WorkflowTemplate"))
    params = json.loads(template["metadata"]["annotations"]["metaflow/parameters"])
    assert list(params["data"])[-3:] == ["is_required", "is_text", "encoding"]
    assert (params["data"]["type"], params["data"]["is_text"], params["data"]["encoding"]) == (
        "FilePath", True, "utf-8")
    blob = params["raw-blob"]
    assert (blob["python_var_name"], blob["type"], blob["is_text"], blob["encoding"]) == (
        "raw_blob", "FilePath", False, "latin-1")
