"""Adopting flowstacks in an existing Metaflow repository: ``flowstacks init`` (find the flows, write the
Pulumi project, the config, the stack files and the CI workflows) and ``flowstacks ls`` (what is deployed
where, offline)."""
