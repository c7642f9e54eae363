"""Resolution order and routing URIs."""

from __future__ import annotations

from cmdb_graph.connection import resolve_neo4j
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA


def test_neo4j_uri_wins_and_starts_nothing(neo4j_target, tmp_path, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_target.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_target.password)
    config = Settings(home=tmp_path / "never-used")
    target = resolve_neo4j(config)
    assert target.origin == "environment" and target.uri == neo4j_target.uri
    assert not (tmp_path / "never-used").exists()


def test_routing_uri_works_unchanged_for_reads_and_writes(store: Store, neo4j_target):
    routed_uri = neo4j_target.uri.replace("bolt://", "neo4j://")
    target = resolve_neo4j(Settings(NEO4J_URI=routed_uri, NEO4J_PASSWORD=neo4j_target.password))
    with target.driver() as driver:
        routed = Store(driver, neo4j_target.database)
        assert load_paths(routed, [DATA / "shop.yaml"], actor="routed").ok
        assert routed.get_ci("web-1").ci.fqdn == "web-1.example.org"
        assert routed.history("web-1")[0].actor == "routed"
