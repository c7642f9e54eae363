"""The native CSV pair as a syncing source, through the CLI: ids kept, a later export that
lacks a row retires it, bad rows name file, line and field and write nothing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.model import Label
from cmdb_graph.store import Store
from tests.conftest import graph_counts

runner = CliRunner()

CIS = """
id,class,name,serial_number,fqdn,ip_addresses,criticality
shop,BusinessService,Web shop,,,,1
shop-app,Application,Shop app,,shop.example.com,,
web-01,Server,web-01,CZJ0001,web-01.example.com,10.0.0.11,
web-02,Server,web-02,CZJ0002,web-02.example.com,10.0.0.12,
web-03,Server,web-03,CZJ0003,web-03.example.com,10.0.0.13,
"""
RELS = """
from,to,type,strength
shop,shop-app,DEPENDS_ON,hard
shop-app,web-01,RUNS_ON,hard
shop-app,web-02,RUNS_ON,soft
"""


def pair(directory: Path, cis: str = CIS, rels: str = RELS) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "cis.csv").write_text(textwrap.dedent(cis).lstrip(), encoding="utf-8")
    (directory / "relationships.csv").write_text(textwrap.dedent(rels).lstrip(), encoding="utf-8")
    return directory


def run(*args: str):
    return runner.invoke(app, ["import", *args])


def test_csv_import_keeps_the_ids_and_a_second_run_changes_nothing(store: Store, neo4j_env, tmp_path: Path):
    source = pair(tmp_path / "export")
    first = run("csv", str(source), "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["cis"] == {"create": 5} and report["relationships"] == {"create": 3}
    assert store.get_ci("web-01").ci.external_ids == {"csv": "web-01"}
    second = run("csv", str(source), "--json")
    assert json.loads(second.stdout)["cis"] == {"unchanged": 5}
    assert json.loads(second.stdout)["relationships"] == {"unchanged": 3}


def test_dry_run_prints_created_updated_with_fields_and_retired(store: Store, neo4j_env, tmp_path: Path):
    assert run("csv", str(pair(tmp_path / "v1"))).exit_code == 0
    before = graph_counts(store.driver)
    v2 = pair(tmp_path / "v2", CIS.replace("web-02,Server,web-02,", "web-02,Server,web-02b,")
              .replace("web-03,Server,web-03,CZJ0003,web-03.example.com,10.0.0.13,\n", "web-04,Server,web-04,,,,\n"))
    result = run("csv", str(v2), "--dry-run", "--allow-large-cleanup")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "dry run: nothing written" in text
    assert "would create (1): web-04" in text
    assert "would retire (1): web-03" in text
    assert "would update web-02: name" in text
    assert graph_counts(store.driver) == before


def test_a_bad_row_names_file_line_and_field_and_nothing_is_written(store: Store, neo4j_env, tmp_path: Path):
    bad = pair(tmp_path / "bad", CIS.replace("10.0.0.12", "10.0.0.300"))
    result = run("csv", str(bad))
    assert result.exit_code == 1
    assert f"{bad / 'cis.csv'}:5: cis[3].ip_addresses" in " ".join(result.output.split())
    assert "nothing was written" in result.output
    assert store.count(Label.CI) == 0


def test_a_large_cleanup_is_refused_with_a_clear_message(store: Store, neo4j_env, tmp_path: Path):
    assert run("csv", str(pair(tmp_path / "v1"))).exit_code == 0
    only_two = pair(tmp_path / "v2", "id,class,name\nshop,BusinessService,Web shop\nweb-01,Server,web-01\n",
                    "from,to,type\n")
    before = graph_counts(store.driver)
    result = run("csv", str(only_two))
    assert result.exit_code == 1
    assert "would stop reporting 3 of the 5 CIs" in " ".join(result.output.split())
    assert "--allow-large-cleanup" in result.output
    assert graph_counts(store.driver) == before


def test_unknown_source_name_characters_are_refused(store: Store, neo4j_env, tmp_path: Path):
    result = run("csv", str(pair(tmp_path / "v1")), "--source-name", "my source")
    assert result.exit_code == 1
    assert "--source-name" in result.output


def test_export_json_to_a_file(store: Store, neo4j_env, tmp_path: Path):
    assert run("csv", str(pair(tmp_path / "v1"))).exit_code == 0
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["export", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert {ci["id"] for ci in document["cis"]} == {"shop", "shop-app", "web-01", "web-02", "web-03"}
    assert len(document["relationships"]) == 3
    graphml = runner.invoke(app, ["export", "--format", "graphml"])
    assert graphml.exit_code == 0 and graphml.stdout.startswith("<?xml")
