"""flowstacks: Metaflow @project deployments as Pulumi stacks, one stack per Metaflow namespace."""

__version__ = "0.1.0"
