"""Pulumi ComponentResources: the only importers of pulumi_aws / pulumi_kubernetes.

One component per file, each ``Component(name, args, opts)`` with its args a dataclass and no
logic beyond wiring. ``protect`` is set on the outermost component only (children inherit it
from their parent). A child's logical name is derived from its parent's, except where the
child's name is its object's own (a Metaflow or content-addressed name) and where existing
stacks named it otherwise: logical names and parents are part of URNs (manifest.json shows them),
so renaming would make Pulumi replace the resource. The backends that create them are in
:mod:`flowstacks.deploy.backends`.
"""
