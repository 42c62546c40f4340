"""What one stack's program needs, built once per stack and passed down to every backend and
component: the project (its config executed once, its flows read once), the stack's context
(names and token computed once), where artifacts go, the secrets and whether package files are
written. Nothing below the program reads the Pulumi config or the disk's layout again."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pulumi

from flowstacks.deploy.artifact_sink import ArtifactSink
from flowstacks.deploy.secrets import Secrets, secret_inputs
from flowstacks.load.project import ProjectDir
from flowstacks.model.deployment import StackContext, secret_placeholder
from flowstacks.render.serialize import metaflow_json

CONFIG_NAMESPACE = "flowstacks"  # the Pulumi config keys flowstacks reads: flowstacks:<key>


@dataclass(frozen=True)
class StackOptions:
    project: ProjectDir
    context: StackContext
    artifacts: ArtifactSink
    secrets: Secrets
    write_packages: bool = True  # False offline: the mock engine reads no package file
    # the stack's explicit providers (deploy/components/providers.py), made first by the program
    providers: tuple[pulumi.ProviderResource, ...] = ()

    def component_options(self) -> pulumi.ResourceOptions:
        """The options of the stack's outermost components: protection (prod) and providers."""
        from flowstacks.deploy.components import protected_resources

        return protected_resources(self.context.protect, self.providers)

    @property
    def project_dir(self) -> Path:
        return self.project.root


PULUMI_PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def pulumi_project_root() -> Path:
    """The folder of the Pulumi project (its ``Pulumi.yaml``), which a relative
    ``flowstacks:projectDir`` is relative to. Not the working folder: with ``main: infra/`` the
    language host runs the program inside ``infra/``. The SDK knows it
    (``pulumi.get_root_directory()``: the language host passes ``--root_directory``); else (an
    older CLI) it is the nearest folder holding ``Pulumi.yaml`` above the program (``sys.argv[0]``,
    which the language host sets to the program's path), then above the working folder."""
    root = pulumi.get_root_directory() if hasattr(pulumi, "get_root_directory") else None
    if root and Path(root).is_dir():  # not the SDK's placeholder ("root_directory") under mocks
        return Path(root)
    starts = [Path(sys.argv[0]).resolve()] if sys.argv and sys.argv[0] else []
    for start in [*starts, Path.cwd()]:
        for folder in (start, *start.parents):
            if any((folder / name).is_file() for name in PULUMI_PROJECT_FILES):
                return folder
    return Path.cwd()


def default_project() -> ProjectDir:
    """The project the real CLI runs: ``flowstacks:projectDir`` (default: the Pulumi project's
    folder) with ``flowstacks:orchestrator`` as its override."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    return ProjectDir(pulumi_project_root() / (config.get("projectDir") or "."),
                      config.get("orchestrator") or None)


def stack_options(project: ProjectDir | None = None, artifacts: ArtifactSink | None = None,
                  offline: bool | None = None) -> StackOptions:
    """The options of the stack Pulumi runs (``pulumi.get_stack()``), from its Pulumi config:
    ``flowstacks:productionTokenIndex`` (the token in force), ``flowstacks:metaflowUser`` (the
    Metaflow user of a developer stack whose name cannot spell it), the secrets, and, when the caller
    does not pass them (the real CLI), ``flowstacks:projectDir`` (relative to the Pulumi
    project's folder, :func:`pulumi_project_root`; default: that folder), ``flowstacks:orchestrator`` and ``flowstacks:offline``. ``flowstacks synth`` passes
    its loaded project and its artifact folder; artifacts are kept in memory otherwise."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    if project is None:
        project = default_project()
    if offline is None:
        offline = bool(config.get_bool("offline"))
    secrets = secret_inputs(config)
    context = project.stack_context(pulumi.get_stack(), config.get_int("productionTokenIndex") or 0,
                                    config.get("metaflowUser") or None)
    if "serviceAuthKey" in secrets:  # Metaflow's METAFLOW_SERVICE_AUTH_KEY, kept secret
        context = context.model_copy(update={"service_headers": metaflow_json(
            {"x-api-key": secret_placeholder("serviceAuthKey")})})
    return StackOptions(project=project, context=context,
                        artifacts=artifacts if artifacts is not None else ArtifactSink(),
                        secrets=secrets, write_packages=not offline)
