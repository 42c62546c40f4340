"""Read what Metaflow 2.19.39's ``airflow create`` wrote: the CONFIG dict of its DAG file, and
the task graph its ``Workflow.compile`` builds from ``graph_structure`` (airflow_utils.py)."""

from __future__ import annotations

import ast
from typing import Any


def metaflow_config(dag_source: str) -> dict[str, Any]:
    """The ``CONFIG = {...}`` literal of a Metaflow-generated DAG file."""
    for node in ast.parse(dag_source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CONFIG":
            return ast.literal_eval(node.value)
    raise ValueError("no CONFIG in the DAG file")


def metaflow_edges(config: dict[str, Any]) -> set[tuple[str, str]]:
    """(upstream, downstream) pairs, walking ``graph_structure`` as ``Workflow.compile`` does."""
    edges: set[tuple[str, str]] = set()

    def add(node: Any, parents: list[str]) -> list[str]:
        if isinstance(node, str):
            edges.update((p, node) for p in parents)
            return [node]
        if all(isinstance(n, list) for n in node):
            out: list[str] = []
            for branch in node:
                out.extend(add(branch, parents))
            return out
        current = parents
        for n in node:
            current = add(n, current)
        return current

    parents: list[str] = []
    for node in config["graph_structure"]:
        parents = add(node, parents)
    return edges
