"""One real Neo4j for the whole run, resolved like everywhere else: NEO4J_URI, else
testcontainers where a Docker engine answers, else the project's local launcher (in a
temporary home, on a free port, stopped at the end)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import Driver

from cmdb_graph.connection import Neo4jTarget, resolve_neo4j
from cmdb_graph.neo4j_local import LocalNeo4j
from cmdb_graph.schema import init_schema, reset_database
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store

DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("cmdb-graph-home")
    return Settings(
        home=home, bolt_port=free_port(), neo4j_heap="768m", neo4j_pagecache_mb=128,
        # the suite empties and refills the database constantly; replanning every query each
        # time the statistics swing would dominate its run time
        neo4j_config={"dbms.cypher.min_replan_interval": "1h", "dbms.cypher.statistics_divergence_threshold": "1.0"},
    )


@pytest.fixture(scope="session")
def neo4j_target(test_settings: Settings) -> Iterator[Neo4jTarget]:
    target = resolve_neo4j(test_settings)
    yield target
    target.release()
    if target.origin == "local":
        LocalNeo4j(test_settings).stop()


@pytest.fixture(scope="session")
def driver(neo4j_target: Neo4jTarget) -> Iterator[Driver]:
    driver = neo4j_target.driver()
    driver.verify_connectivity()
    init_schema(driver, neo4j_target.database)
    yield driver
    driver.close()


@pytest.fixture
def store(driver: Driver, neo4j_target: Neo4jTarget) -> Store:
    """A store on an empty database (constraints and indexes kept)."""
    reset_database(driver, neo4j_target.database)
    return Store(driver, neo4j_target.database, batch_size=50)


@pytest.fixture
def neo4j_env(neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch) -> Neo4jTarget:
    """Point the CLI (which reads settings from the environment) at the test server."""
    monkeypatch.setenv("NEO4J_URI", neo4j_target.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_target.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_target.password)
    return neo4j_target


def graph_counts(driver: Driver) -> tuple[int, int, dict]:
    """Nodes, relationships and a digest of every property, to show a database is unchanged."""
    records, _, _ = driver.execute_query(
        "MATCH (n) WITH count(n) AS nodes "
        "OPTIONAL MATCH ()-[r]->() WITH nodes, count(r) AS rels "
        "RETURN nodes, rels",
        routing_="r",
    )
    props, _, _ = driver.execute_query(
        "MATCH (n) WHERE n.id IS NOT NULL AND NOT n:AuditEntry "
        "RETURN n.id AS id, labels(n) AS labels, properties(n) AS p ORDER BY id",
        routing_="r",
    )
    digest = {(r["id"], tuple(sorted(r["labels"]))): repr(sorted(r["p"].items())) for r in props}
    return records[0]["nodes"], records[0]["rels"], digest


os.environ.setdefault("CMDB_GRAPH_USE_DOCKER", "true")
