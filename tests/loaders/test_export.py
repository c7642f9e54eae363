"""Export: the whole CMDB leaves as a native document that loads back into the same graph."""

from __future__ import annotations

import io
import json
from pathlib import Path

import networkx as nx

from cmdb_graph.demo import build_demo
from cmdb_graph.model import RECORD_SECTIONS, Label
from cmdb_graph.store import Store
from loaders.native import load_document, load_paths
from loaders.native.export import export_document, to_graphml, to_json
from loaders.native.get import read_mapping
from loaders.native.transform import transform
from tests.conftest import graph_counts


def load_demo(store: Store) -> None:
    transformed = transform(read_mapping("demo", build_demo(seed=42)))
    assert not transformed.errors
    report = load_document(store, transformed.document, files=["demo"], source="demo", actor="test",
                           transformed=transformed)
    assert report.ok, report.errors


def content(driver) -> tuple[dict, set]:
    """Every node's own properties (no bookkeeping) and every relationship, by id."""
    nodes, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:AuditEntry AND NOT n:SyncRun "
        "RETURN labels(n) AS labels, n.id AS id, properties(n) AS p", routing_="r")[:2]
    rels, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN labels(a) AS la, a.id AS a, type(r) AS t, labels(b) AS lb, b.id AS b, "
        "r.strength AS s", routing_="r")[:2]
    bookkeeping = {"version", "created_at", "updated_at", "source", "first_seen", "last_seen", "sync_tag", "reported_by"}
    return (
        {(tuple(sorted(r["labels"])), r["id"]): {k: v for k, v in r["p"].items() if k not in bookkeeping} for r in nodes},
        {(tuple(sorted(r["la"])), r["a"], r["t"], tuple(sorted(r["lb"])), r["b"], r["s"]) for r in rels},
    )


def test_export_then_load_into_an_empty_database_gives_the_same_graph(store: Store, tmp_path: Path):
    load_demo(store)
    before = content(store.driver)
    exported = tmp_path / "cmdb.json"
    exported.write_text(to_json(export_document(store)), encoding="utf-8")
    store.driver.execute_query("MATCH (n) DETACH DELETE n")
    report = load_paths(store, [exported], actor="test")
    assert report.ok, report.errors[:5]
    assert content(store.driver) == before
    assert export_document(store) == json.loads(exported.read_text(encoding="utf-8"))


def test_graphml_export_holds_every_ci_record_and_link(store: Store):
    load_demo(store)
    document = export_document(store)
    graph = nx.read_graphml(io.BytesIO(to_graphml(document).encode("utf-8")), force_multigraph=True)
    records = sum(len(document[section]) for section in RECORD_SECTIONS)
    assert graph.number_of_nodes() == store.count(Label.CI) + records
    nodes, rels, _ = graph_counts(store.driver)
    assert graph.number_of_edges() == rels
    some_rel = document["relationships"][0]
    edges = graph.get_edge_data(f"CI/{some_rel['from']}", f"CI/{some_rel['to']}")
    assert any(e["type"] == some_rel["type"] for e in edges.values())
    ci = document["cis"][0]
    assert graph.nodes[f"CI/{ci['id']}"]["class"] == ci["class"]
