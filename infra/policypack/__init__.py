"""The flowstacks policy pack: rules in :mod:`infra.policypack.rules`, assembled in ``__main__``."""
