"""The CLI: clear messages and exit codes for users, no tracebacks, JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.model import Label
from cmdb_graph.store import Store
from tests.conftest import DATA, graph_counts

runner = CliRunner()


def test_load_then_reload_reports_counts(store: Store, neo4j_env):
    first = runner.invoke(app, ["load", str(DATA / "shop.yaml"), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["created"], report["updated"]) == (18, 0)
    second = runner.invoke(app, ["load", str(DATA / "shop.yaml")])
    assert second.exit_code == 0
    assert "created 0, updated 0, unchanged 18" in second.stdout


def test_bad_file_exits_non_zero_with_file_line_field_and_no_traceback(store: Store, neo4j_env, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cis:\n  - id: a\n    class: Server\n    criticality: high\n")
    result = runner.invoke(app, ["load", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: cis[0].criticality:" in result.output
    assert "nothing was written" in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert store.count(Label.CI) == 0


def test_missing_file_is_an_error_not_a_crash(store: Store, neo4j_env, tmp_path: Path):
    result = runner.invoke(app, ["load", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and "no such file" in result.output


def test_dry_run_writes_nothing(store: Store, neo4j_env):
    result = runner.invoke(app, ["load", "--dry-run", str(DATA / "shop.yaml")])
    assert result.exit_code == 0, result.output
    assert "would create 18" in result.stdout and "dry run" in result.stdout
    assert graph_counts(store.driver)[0] == 0


def test_reset_needs_confirmation(store: Store, neo4j_env):
    runner.invoke(app, ["load", str(DATA / "shop.yaml")])
    refused = runner.invoke(app, ["db", "reset"])
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert store.count(Label.CI) == 5
    done = runner.invoke(app, ["db", "reset", "--yes"])
    assert done.exit_code == 0 and store.count(Label.CI) == 0
    assert runner.invoke(app, ["db", "init"]).exit_code == 0


def test_demo_loads_and_ci_commands_show_it(store: Store, neo4j_env, tmp_path: Path):
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["created"] > 1000
    shown = runner.invoke(app, ["ci", "show", "db-orders", "--json"])
    assert json.loads(shown.stdout)["ci"]["class"] == "RedundancyGroup"
    history = json.loads(runner.invoke(app, ["ci", "history", "db-orders", "--json"]).stdout)
    assert [h["action"] for h in history] == ["create"] and history[0]["actor"].startswith("cli")
    assert runner.invoke(app, ["ci", "show", "ghost"]).exit_code == 1


def test_demo_out_writes_a_loadable_native_document(store: Store, neo4j_env, tmp_path: Path):
    target = tmp_path / "demo.yaml"
    assert runner.invoke(app, ["demo", "--out", str(target)]).exit_code == 0
    document = yaml.safe_load(target.read_text())
    assert len(document["cis"]) >= 300
    loaded = runner.invoke(app, ["load", str(target), "--json"])
    assert loaded.exit_code == 0 and json.loads(loaded.stdout)["ok"]


def test_unreachable_neo4j_is_a_message(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "whatever-pw")
    result = runner.invoke(app, ["db", "init"])
    assert result.exit_code == 1 and "cannot reach Neo4j at bolt://127.0.0.1:1" in result.output
