"""The whole CMDB as a native document (JSON, loadable again with `cmdb-graph load`) or as
GraphML for graph tools. Bookkeeping (versions, timestamps, sync claims) stays behind: an
export is what the CMDB says, not how it got there."""

from __future__ import annotations

import io
import json
from typing import Any

import networkx as nx

from cmdb_graph.model import RECORD_SECTIONS
from cmdb_graph.store import Store, stored_ci_from_props

EXPORT_CIS = "MATCH (n:CI) RETURN properties(n) AS props ORDER BY n.id"

EXPORT_RELATIONSHIPS = """
MATCH (a:CI)-[r]->(b:CI)
RETURN a.id AS source, type(r) AS type, b.id AS target, r.strength AS strength
ORDER BY source, type, target
"""


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, [], {})}


def export_document(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every CI, relationship and record, in the native format's sections and keys."""
    cis = [
        _compact(stored_ci_from_props(row["props"]).ci.model_dump(mode="json", by_alias=True))
        for row in store.rows(EXPORT_CIS)
    ]
    relationships = [
        {"from": row["source"], "to": row["target"], "type": row["type"], "strength": row["strength"] or "hard"}
        for row in store.rows(EXPORT_RELATIONSHIPS)
    ]
    document: dict[str, list[dict[str, Any]]] = {"cis": cis, "relationships": relationships}
    for section, model in RECORD_SECTIONS.items():
        document[section] = [_compact(r.model_dump(mode="json", by_alias=True)) for r in store.records(model)]
    return document


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def _graphml_value(value: Any) -> Any:
    """GraphML holds scalars; lists and maps travel as JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def as_graph(document: dict[str, Any]) -> nx.MultiDiGraph:
    """One node per CI (`CI/<id>`) and record (`<Label>/<id>`); CI relationships and record
    links as typed edges."""
    graph = nx.MultiDiGraph()
    for ci in document["cis"]:
        graph.add_node(f"CI/{ci['id']}", label="CI", **{k: _graphml_value(v) for k, v in ci.items()})
    for rel in document["relationships"]:
        graph.add_edge(f"CI/{rel['from']}", f"CI/{rel['to']}", key=rel["type"], type=rel["type"],
                       strength=rel["strength"])
    for section, model in RECORD_SECTIONS.items():
        label = model.label.value
        for record in document[section]:
            node = f"{label}/{record['id']}"
            props = {k: _graphml_value(v) for k, v in record.items() if k not in model.edges}
            graph.add_node(node, label=label, **props)
            for key, (rel, target_label) in model.edges.items():
                targets = record.get(key) or []
                for target in [targets] if isinstance(targets, str) else targets:
                    graph.add_edge(node, f"{target_label.value}/{target}", key=rel.value, type=rel.value)
    for ci in document["cis"]:
        if ci.get("owner"):
            graph.add_edge(f"CI/{ci['id']}", f"Team/{ci['owner']}", key="OWNED_BY", type="OWNED_BY")
    return graph


def to_graphml(document: dict[str, Any]) -> str:
    buffer = io.BytesIO()
    nx.write_graphml(as_graph(document), buffer, named_key_ids=True)
    return buffer.getvalue().decode("utf-8")
