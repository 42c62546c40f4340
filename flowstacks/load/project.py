"""Load a flowstacks project directory: the Python config, the flows, and one stack's context.

Impure on purpose (imports the config module and flow files); everything it returns is plain data.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping

from pydantic import ValidationError

from flowstacks.load import flows as flow_reader
from flowstacks.load.include_files import resolve_include_files
from flowstacks.load.platform import stack_platform
from flowstacks.errors import FlowstacksError, MetaflowRuleError, Problems
from flowstacks.model.config import ORCHESTRATORS, ProjectConfig
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow
from flowstacks.model.platform import ResolvedPlatform
from flowstacks.naming import NamingSettings, deploy_names, namespace_token
from flowstacks.naming.limits import name_problems, orchestrator_names
from flowstacks.naming.project import resolve_namespace
from flowstacks.naming.stacks import StackNamespace, parse_stack

CONFIG_FILE = f"flowspecs/{flow_reader.CONFIG_MODULE}"
# What `flowstacks init` writes: at the root, so the flows can live in any folder (`flows_dir`).
ROOT_CONFIG_FILE = flow_reader.CONFIG_MODULE


def config_file(project_dir: Path) -> str | None:
    """The project's config file, relative to ``project_dir`` (``flowstacks_config.py`` at the root,
    else ``flowspecs/flowstacks_config.py``), or None (zero-config)."""
    found = [name for name in (ROOT_CONFIG_FILE, CONFIG_FILE) if (Path(project_dir) / name).is_file()]
    if len(found) > 1:
        raise FlowstacksError("two flowstacks configs: keep one", where=" and ".join(found))
    return found[0] if found else None


def validation_message(exc: ValidationError) -> str:
    """One part per pydantic error: ``Model.field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join([exc.title, *(str(p) for p in err["loc"])])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def _line_in(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f":{frames[-1].lineno}" if frames else ""


def load_config(project_dir: Path) -> ProjectConfig | None:
    """``CONFIG`` of the project's config file (:func:`config_file`), or None without one."""
    name = config_file(project_dir)
    if name is None:
        return None
    path = project_dir / name
    spec = importlib.util.spec_from_file_location("_flowstacks_project_config", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except ValidationError as exc:
        raise FlowstacksError(f"invalid config: {validation_message(exc)}",
                              where=name + _line_in(exc, path)) from None
    except Exception as exc:  # noqa: BLE001 - user code
        raise FlowstacksError(f"importing the config failed: {type(exc).__name__}: {exc}",
                              where=name) from None
    finally:
        sys.path.remove(str(path.parent))
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, ProjectConfig):
        raise FlowstacksError("defines no CONFIG = ProjectConfig(...)", where=name)
    return config


def check_names(deployments: list[FlowDeployment], orchestrator: str, stack: str) -> None:
    """Refuse names the platform would refuse, and two flows that would get the same object
    (Metaflow would deploy one over the other: e.g. Argo drops ``_``, so ``Ab_Flow`` and
    ``AbFlow`` collide)."""
    seen: dict[tuple[str, str], FlowDeployment] = {}
    for fd in deployments:
        where = f"{fd.flow.file} ({fd.flow.name})"
        problems = name_problems(fd.names, orchestrator)
        if problems:
            raise FlowstacksError("; ".join(problems), where=where,
                                  hint=f"in stack '{stack}' on {orchestrator}")
        for kind, name in orchestrator_names(fd.names, orchestrator):
            other = seen.setdefault((kind, name), fd)
            if other is not fd:
                raise FlowstacksError(
                    f"{other.flow.name} ({other.flow.file}) and {fd.flow.name} get the same "
                    f"{orchestrator} {kind} {name!r}: one would overwrite the other",
                    where=where, hint="rename one of the flow classes")


@dataclass
class ProjectDir:
    """A project folder: the flows (``flowspecs/`` or the config's ``flows_dir``), the optional
    config and ``stacks/``.

    Build one per process and pass it on: it executes the config once, reads each flow once and
    parses each stack name once, however many stacks and commands use it."""

    root: Path
    orchestrator_override: str | None = None
    # the environment the Metaflow config is read from (default: this process's)
    environ: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._namespaces: dict[tuple[str, str | None], StackNamespace] = {}
        if self.orchestrator_override and self.orchestrator_override not in ORCHESTRATORS:
            raise FlowstacksError(
                f"unknown orchestrator '{self.orchestrator_override}'",
                where="--orchestrator", hint=f"one of {', '.join(ORCHESTRATORS)}")

    @cached_property
    def _loaded_config(self) -> ProjectConfig | None:
        return load_config(self.root)

    @property
    def config(self) -> ProjectConfig:
        """The project's config, or the defaults (zero-config: every flow, any stack)."""
        return self._loaded_config or ProjectConfig()

    @property
    def has_config(self) -> bool:
        return self._loaded_config is not None

    @property
    def config_file(self) -> str:
        """The config's file relative to the root (where errors about it point)."""
        return config_file(self.root) or CONFIG_FILE

    @property
    def flows_dir(self) -> Path:
        """The folder of the flow files."""
        return self.root / self.config.flows_dir

    @cached_property
    def default_flows(self) -> list[Flow]:
        """Every flow with its default Config values (what the project deploys, by class name)."""
        flows = flow_reader.load_all(self.root, flow_dir=self.flows_dir)
        names = [f.name for f in flows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        folder = f"{self.config.flows_dir}/"
        if dupes:
            problems = Problems()
            for name in dupes:
                files = sorted(f.file for f in flows if f.name == name)
                problems.add(FlowstacksError(
                    f"several flow files define {name}: {', '.join(files)}", where=folder,
                    hint="a flow class name is its Metaflow name: rename all but one"))
            problems.raise_all()
        wanted = self.config.flows
        if wanted is not None:
            missing = sorted(set(wanted) - set(names))
            if missing:
                raise FlowstacksError(
                    f"flows lists {', '.join(missing)}, which no file in {folder} defines "
                    f"(found: {', '.join(names) or 'none'})", where=f"{self.config_file}: flows")
            flows = [f for f in flows if f.name in wanted]
        return flows

    @cached_property
    def project_name(self) -> str:
        """The project of the config, or the one all flows agree on."""
        names = {f.project.name for f in self.default_flows if f.project}
        problems = Problems()
        for f in self.default_flows:
            if f.project is None:
                problems.add(FlowstacksError("has no @project decorator; flowstacks deploys @project "
                                             "flows (add @project(name=...))",
                                             where=f"{f.file} ({f.name})"))
        problems.raise_all()
        if self.config.project:
            others = sorted(n for n in names if n != self.config.project)
            if others:
                bad = [f for f in self.default_flows if f.project and f.project.name in others]
                raise FlowstacksError(
                    f"@project(name='{bad[0].project.name}') differs from the config's project "
                    f"'{self.config.project}'", where=f"{bad[0].file} ({bad[0].name})")
            return self.config.project
        if not names:
            raise FlowstacksError("no flows found", where=f"{self.config.flows_dir}/")
        if len(names) > 1:
            raise FlowstacksError(f"flows belong to several projects: {', '.join(sorted(names))}",
                                  where=f"{self.config.flows_dir}/",
                                  hint="set project= in the config and deploy one project")
        return names.pop()

    def stacks(self) -> list[str]:
        """The stacks of the config's matrix (``--all``)."""
        return [s.name for s in self.config.stacks]

    def namespace(self, stack: str, metaflow_user: str | None = None) -> StackNamespace:
        """``stack`` parsed (once), a developer stack as its recorded Metaflow user
        (``flowstacks:metaflowUser``); a name Metaflow would not produce fails with its message."""
        key = (stack, metaflow_user)
        if key not in self._namespaces:
            self._namespaces[key] = parse_stack(stack, metaflow_user)
        return self._namespaces[key]

    def orchestrator(self, stack: str) -> str:
        return self.orchestrator_override or self.config.orchestrator_for(self.namespace(stack))

    def _flow_for_stack(self, base: Flow, stack: str) -> Flow:
        files = self.config.config_files(stack, base.name)
        declared = {c.name for c in base.configs}
        spec = self.config.stack(stack)
        per_flow = spec.flow_configs.get(base.name, {}) if spec else {}
        unknown = sorted(set(per_flow) - declared)
        if unknown:
            raise FlowstacksError(
                f"gives Config file(s) for {', '.join(unknown)} but {base.name} declares "
                f"{', '.join(sorted(declared)) or 'no Config'}",
                where=f"{self.config_file}: stacks[{stack}].flow_configs.{base.name}")
        chosen = {k: self.flows_dir / v for k, v in files.items() if k in declared}
        if not chosen:
            return base
        return flow_reader.load_flow(self.root / base.file, self.root, chosen)

    def stack_platform(self, stack: str) -> tuple[ProjectConfig, ResolvedPlatform]:
        """``stack``'s effective config (its namespace class's aws/kubernetes/airflow values) and
        platform settings: the flowstacks config, then the Metaflow config in effect
        (:mod:`flowstacks.load.platform`), each value with its source."""
        return stack_platform(self.config, stack, self.root, self.environ,
                              flows_dir=self.flows_dir, config_file=self.config_file)

    def _deployment(self, base: Flow, stack: str, ns: StackNamespace, owner: str | None,
                    project: str, settings: NamingSettings, token: object,
                    config: ProjectConfig) -> FlowDeployment:
        """One flow of ``stack``: its Config files applied, its IncludeFile defaults resolved to
        the namespace's datastore (:mod:`flowstacks.load.include_files`), its names."""
        flow = resolve_include_files(self._flow_for_stack(base, stack), config.aws.datastore_root)
        where = f"{flow.file} ({flow.name})"
        attrs = flow.project.attributes if flow.project else {}
        try:
            pns = resolve_namespace(flow.name, flow.project.name if flow.project else None,
                                    attrs, ns.branch, ns.production, ns.user, owner)
        except MetaflowRuleError as exc:
            raise MetaflowRuleError(exc.message, headline=exc.headline, where=where,
                                    hint=f"deploying to stack '{stack}'") from None
        if pns.branch_name != ns.branch_name or pns.project_name != project:
            raise FlowstacksError(
                f"@project({', '.join(f'{k}={v!r}' for k, v in attrs.items())}) sends this "
                f"flow to namespace {pns.project_name}.{pns.branch_name}, not stack '{stack}'",
                where=where, hint="remove the branch/production attributes from @project; "
                "the stack chooses the namespace")
        return FlowDeployment(
            flow=flow, project_name=pns.project_name, branch_name=pns.branch_name,
            is_production=pns.is_production, is_user_branch=pns.is_user_branch,
            cli_branch=pns.cli_branch, cli_production=pns.cli_production,
            names=deploy_names(pns, settings, token),
        )

    def _deploying_user(self) -> str | None:
        """The user Metaflow's deployer would record (``util.get_username``) in this env."""
        from flowstacks.load.metaflow_env import read_metaflow_env
        from flowstacks.naming.project import resolve_username

        mfenv = read_metaflow_env(self.flows_dir, self.environ)
        return resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config)

    def stack_context(self, stack: str, token_index: int = 0,
                      metaflow_user: str | None = None) -> StackContext:
        """Everything ``stack`` deploys, with Metaflow's names for each flow.

        ``token_index`` is the production token candidate in force (0 = Metaflow's first token;
        ``flowstacks token rotate`` records a later one in the stack's Pulumi config);
        ``metaflow_user`` the Metaflow user of a developer stack (``flowstacks:metaflowUser``)."""
        ns = self.namespace(stack, metaflow_user)
        config = self.config
        spec = config.stack(stack)
        if ns.kind != "user" and self.has_config and not config.accepts(stack):
            listed = ", ".join(self.stacks()) or "none"
            raise FlowstacksError(
                f"stack '{stack}' is not in the branch matrix (stacks: {listed})",
                where=f"{self.config_file}: stacks", hint=f"add StackSpec(name='{stack}') to the config")
        # this namespace class's platform settings, the Metaflow config filling the gaps
        config, platform = self.stack_platform(stack)
        project = self.project_name
        owner = ns.user if ns.kind == "user" else config.owner
        if ns.kind != "user" and not self.has_config:
            # zero-config deploys what `python flow.py ... create` would on this machine:
            # METAFLOW_OWNER is the deploying user (util.get_username), as Metaflow's deployers set it
            owner = self._deploying_user() or owner
        settings = NamingSettings(config.aws.state_machine_prefix, token_index)
        # every flow of the namespace shares its token: computed once for the stack
        token = namespace_token(project, ns.branch_name, token_index)
        deployments = []
        problems = Problems()
        for base in self.default_flows:
            if spec and spec.flows is not None and base.name not in spec.flows:
                continue
            with problems.collect():
                deployments.append(self._deployment(base, stack, ns, owner, project, settings, token,
                                                     config))
        problems.raise_all()
        orchestrator = self.orchestrator(stack)
        check_names(deployments, orchestrator, stack)
        return StackContext(
            stack=stack, kind=ns.kind, project_name=project, branch_name=ns.branch_name,
            orchestrator=orchestrator, owner=owner or "", token_prefix=token.prefix,
            token_index=token.index, production_token=token.token,
            protect=config.protect(ns), config=config, flows=tuple(deployments),
            platform=platform,
        )
