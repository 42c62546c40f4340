"""The flowstacks policy pack: rules in :mod:`flowstacks.policy.rules`, assembled in ``__main__``."""
