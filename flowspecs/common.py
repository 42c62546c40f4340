"""Helpers shared by the example flows (not a flow: defines no FlowSpec)."""

REGIONS = ["emea", "amer", "apac"]


def score(values):
    return sum(values) / max(len(values), 1)
