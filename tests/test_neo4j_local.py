"""The local launcher: start, status, a second start, authentication, clean stop.

Runs a second Neo4j beside the suite's own, in its own home and on its own port."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.neo4j_local import LocalNeo4j, LocalNeo4jError, _alive
from cmdb_graph.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.launcher


@pytest.fixture
def launcher_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_settings: Settings) -> Settings:
    port = free_port()
    for key, value in {
        "CMDB_GRAPH_HOME": str(tmp_path / "home"),
        "CMDB_GRAPH_CACHE_DIR": str(test_settings.cache_dir),
        "CMDB_GRAPH_BOLT_PORT": str(port),
        "CMDB_GRAPH_NEO4J_HEAP": "512m",
        "CMDB_GRAPH_NEO4J_PAGECACHE_MB": "64",
        "CMDB_GRAPH_NEO4J_PASSWORD": "launcher-test-pw",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    return Settings()


def test_start_status_second_start_auth_and_stop(launcher_env: Settings):
    runner = CliRunner()
    local = LocalNeo4j(launcher_env)
    assert not local.status().running
    assert runner.invoke(app, ["neo4j", "status"]).exit_code == 3

    started = runner.invoke(app, ["neo4j", "start"])
    assert started.exit_code == 0, started.output
    status = local.status()
    try:
        assert status.running and status.version.startswith("5.26.")
        assert status.uri == f"bolt://127.0.0.1:{launcher_env.bolt_port}"
        listed = runner.invoke(app, ["neo4j", "status"])
        assert listed.exit_code == 0 and "running: Neo4j 5.26." in listed.output

        again = runner.invoke(app, ["neo4j", "start"])
        assert again.exit_code == 0 and "already running" in again.output
        assert local.status().pid == status.pid

        with GraphDatabase.driver(status.uri, auth=("neo4j", "launcher-test-pw")) as driver:
            records, _, _ = driver.execute_query("CALL dbms.components() YIELD edition RETURN edition")
            assert records[0]["edition"] == "community"
        for wrong in ("neo4j", "not-the-password"):
            with GraphDatabase.driver(status.uri, auth=("neo4j", wrong)) as driver, pytest.raises(AuthError):
                driver.verify_connectivity()
    finally:
        stopped = runner.invoke(app, ["neo4j", "stop"])
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    assert not _alive(status.pid)
    assert not local.status().running
    assert runner.invoke(app, ["neo4j", "stop"]).output.strip() == "Neo4j was not running"


def test_a_taken_port_is_a_clear_error(launcher_env: Settings, test_settings: Settings, neo4j_target):
    if neo4j_target.origin != "local":
        pytest.skip("needs the suite's own local server holding a port")
    busy = launcher_env.model_copy(update={"bolt_port": test_settings.bolt_port})
    with pytest.raises(LocalNeo4jError, match=f"port {test_settings.bolt_port} .* is taken"):
        LocalNeo4j(busy).start()


def test_short_password_is_refused(launcher_env: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CMDB_GRAPH_NEO4J_PASSWORD", "short")
    with pytest.raises(LocalNeo4jError, match="at least 8 characters"):
        LocalNeo4j(Settings()).password()


def test_generated_password_is_kept_private(launcher_env: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CMDB_GRAPH_NEO4J_PASSWORD")
    local = LocalNeo4j(Settings())
    first = local.password()
    assert len(first) >= 16 and local.password() == first
    assert (launcher_env.home / "neo4j-password").stat().st_mode & 0o077 == 0
