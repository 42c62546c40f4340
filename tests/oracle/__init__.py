"""Offline oracle: run Metaflow's own deployers against a local moto server.

See :mod:`tests.oracle.harness` for the public API (``MotoOracle``, ``shared_oracle``).
"""
