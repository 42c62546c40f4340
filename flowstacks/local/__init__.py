"""``flowstacks run-local``: a stack's deployed flows executed on this machine, as the cloud would
execute them (the ``local`` extra: ``pip install 'flowstacks[local]'``).

Modules: :mod:`~flowstacks.local.deployment` (what synth wrote), :mod:`~flowstacks.local.services`
and :mod:`~flowstacks.local.provision` (the emulated account), :mod:`~flowstacks.local.moto_hooks`,
:mod:`~flowstacks.local.container` and :mod:`~flowstacks.local.instance_metadata` (inside moto's
server), :mod:`~flowstacks.local.sfn_run` (Step Functions executions), :mod:`~flowstacks.local.airflow_run`
and :mod:`~flowstacks.local.airflow_runner` (DAG runs in real Airflow 3, in its own virtualenv),
:mod:`~flowstacks.local.metadata_service`
and :mod:`~flowstacks.local.client_check` (Metaflow's service and client),
:mod:`~flowstacks.local.report` and :mod:`~flowstacks.local.run` (the command).
"""
