"""Pulumi ComponentResources: the only importers of pulumi_aws / pulumi_kubernetes.

One component per file, each ``Component(name, args, opts)`` with its args a dataclass and no
logic beyond wiring. Protection is given once, to the outermost component
(:func:`protected_resources`), and reaches every cloud resource under it. A child's logical name
is derived from its parent's, except where the child's name is its object's own (a Metaflow or
content-addressed name) and where existing stacks named it otherwise: logical names and parents
are part of URNs (manifest.json shows them), so renaming would make Pulumi replace the resource.
The backends that create them are in :mod:`flowstacks.deploy.backends`.
"""

from __future__ import annotations

from typing import Sequence

import pulumi


def _protect_cloud_resources(args: pulumi.ResourceTransformationArgs
                             ) -> pulumi.ResourceTransformationResult | None:
    if not isinstance(args.resource, pulumi.CustomResource) or args.opts.retain_on_delete:
        # A retained resource (a code package) is never deleted from the cloud, so it needs no
        # protection; protecting it would make every change of its address a failing deploy.
        return None
    return pulumi.ResourceTransformationResult(
        args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True)))


def protected_resources(protect: bool, providers: Sequence[pulumi.ProviderResource] = ()
                        ) -> pulumi.ResourceOptions:
    """The options of a stack's outermost components: with ``protect``, every cloud resource
    created under the component, at any depth, is protected (a transformation, which children
    inherit from their parent). Components themselves are not: they hold nothing in the cloud,
    and deleting a flow then needs ``pulumi state unprotect`` only for the resources whose URNs
    the manifest lists (flowstacks.review). ``providers``: the stack's explicit providers
    (:mod:`flowstacks.deploy.components.providers`), which every resource under the component
    inherits from its parent."""
    return pulumi.ResourceOptions(transformations=[_protect_cloud_resources] if protect else None,
                                  providers=list(providers) or None)
