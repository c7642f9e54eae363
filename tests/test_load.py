"""Loading native documents into the real Neo4j: all-or-nothing, idempotent, precise errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdb_graph.model import Label
from cmdb_graph.store import Store
from loaders.native import load_paths
from tests.conftest import DATA, graph_counts


def load(store: Store, *paths: Path, dry_run: bool = False, source: str = "native"):
    return load_paths(store, list(paths), actor="test", dry_run=dry_run, source=source)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_issue_example_loads_every_section(store: Store):
    report = load(store, DATA / "shop.yaml")
    assert report.ok, report.errors
    assert store.count(Label.CI) == 5
    assert store.count_relationships() == 4
    for label in (Label.TEAM, Label.SLA, Label.INCIDENT, Label.PROBLEM, Label.KNOWLEDGE_ARTICLE,
                  Label.CHANGE, Label.RELEASE, Label.MAINTENANCE_WINDOW, Label.BLACKOUT):
        assert store.count(label) == 1, label
    assert report.created == 5 + 4 + 9
    records, _, _ = store.driver.execute_query(
        "MATCH (i:Incident {id: 'INC1'})-[:AFFECTS]->(c:CI) "
        "MATCH (chg:Change {id: 'CHG1'})-[:PART_OF]->(r:Release) "
        "MATCH (s:SLA)-[:COVERS]->(svc:CI) "
        "MATCH (w:CI {id: 'web-1'})-[:OWNED_BY]->(t:Team) "
        "RETURN c.id AS affected, r.release_version AS release, svc.id AS service, t.name AS team, "
        "labels(w) AS labels, w.layer AS layer, i.priority AS priority"
    )
    row = records[0]
    assert (row["affected"], row["release"], row["service"], row["team"]) == ("web-1", "2.1", "shop", "Web team")
    assert set(row["labels"]) == {"CI", "Server"} and row["layer"] == "infrastructure" and row["priority"] == 1


def test_loading_the_same_file_twice_changes_nothing(store: Store):
    first = load(store, DATA / "shop.yaml")
    before = graph_counts(store.driver)
    second = load(store, DATA / "shop.yaml")
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)
    assert graph_counts(store.driver) == before
    assert store.get_ci("web-1").version == 1


def test_a_changed_field_is_one_update_with_a_new_version_and_an_audit_entry(store: Store, tmp_path: Path):
    load(store, DATA / "shop.yaml")
    document = yaml.safe_load((DATA / "shop.yaml").read_text())
    document["cis"][0]["criticality"] = 1
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document))
    report = load(store, changed)
    assert (report.created, report.updated) == (0, 1)
    stored = store.get_ci("web-1")
    assert stored.version == 2 and stored.ci.criticality == 1
    latest = store.history("web-1")[0]
    assert latest.action == "update" and latest.changed == ["criticality"] and latest.actor == "test"
    assert latest.before["criticality"] == 2 and latest.after["criticality"] == 1


def test_changing_a_ci_class_moves_its_label(store: Store, tmp_path: Path):
    first = write(tmp_path, "a.yaml", "cis: [{id: box, class: Server}]\n")
    second = write(tmp_path, "b.yaml", "cis: [{id: box, class: VirtualMachine}]\n")
    load(store, first)
    load(store, second)
    records, _, _ = store.driver.execute_query("MATCH (n:CI {id: 'box'}) RETURN labels(n) AS labels")
    assert set(records[0]["labels"]) == {"CI", "VirtualMachine"}


def test_a_group_with_members_cannot_stop_being_a_group(store: Store, tmp_path: Path):
    assert load_paths(store, [DATA / "shop.yaml"], actor="t").ok
    before = graph_counts(store.driver)
    changed = tmp_path / "farm.yaml"
    changed.write_text("cis:\n  - {id: web-2, class: Server}\n  - {id: web-farm, class: NetworkDevice}\n")
    report = load_paths(store, [changed], actor="t")
    assert report.errors == [f"{changed}:3: cis[1].class: only a Cluster or RedundancyGroup has members, and this CI "
                             "has 2 (web-1, web-2); remove its HAS_MEMBER relationships first"]
    assert graph_counts(store.driver) == before
    # another group class keeps them
    changed.write_text("cis:\n  - {id: web-farm, class: RedundancyGroup, min_members: 1}\n")
    assert load_paths(store, [changed], actor="t").ok


def test_a_bad_row_writes_nothing_and_names_file_line_and_field(store: Store, tmp_path: Path):
    load(store, DATA / "shop.yaml")
    before = graph_counts(store.driver)
    bad = write(tmp_path, "bad.yaml", """
        cis:
          - {id: new-1, class: Server}
          - {id: new-2, class: Server, criticality: 7}
          - {id: web-1, class: Server, criticality: 3}
        relationships:
          - {from: new-1, to: web-1}
        """)
    report = load(store, bad)
    assert not report.ok
    assert report.errors == [f"{bad}:3: cis[1].criticality: Input should be less than or equal to 4"]
    assert graph_counts(store.driver) == before


def test_a_relationship_to_an_unknown_ci_is_an_error(store: Store, tmp_path: Path):
    bad = write(tmp_path, "bad.yaml", """
        cis:
          - {id: app, class: Application}
        relationships:
          - {from: app, to: ghost-db}
        """)
    report = load(store, bad)
    assert report.errors == [f"{bad}:4: relationships[0].to: unknown CI 'ghost-db'"]
    assert store.count(Label.CI) == 0


def test_references_may_point_at_what_the_database_already_holds(store: Store, tmp_path: Path):
    load(store, write(tmp_path, "a.yaml", "cis: [{id: db, class: Database}]\n"))
    report = load(store, write(tmp_path, "b.yaml", """
        cis: [{id: app, class: Application}]
        relationships: [{from: app, to: db}]
        knowledge_articles: [{id: KB1, title: Backups, about: [db]}]
        """))
    assert report.ok, report.errors
    assert store.count_relationships() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("relationships: [{from: web, to: db, type: HAS_MEMBER}]\n",
         "relationships[0].from: 'web' is a Server; only a Cluster or RedundancyGroup has members"),
        ("slas: [{id: S1, service: db, availability_target: 0.99}]\n",
         "slas[0].service: 'db' is a Database; an SLA covers a business or technical service"),
        ("incidents: [{id: I1, title: t, opened_at: 2026-01-01T00:00:00Z, caused_by: PRB-404}]\n",
         "incidents[0].caused_by: unknown Problem 'PRB-404'"),
        ("cis: [{id: x, class: Server, owner: team-nobody}]\n", "cis[0].owner: unknown Team 'team-nobody'"),
        ("cis: [{id: web, class: Server}]\n", "cis[0].id: duplicate 'web'"),
        ("widgets: []\n", "widgets: unknown section"),
    ],
)
def test_cross_reference_errors(store: Store, tmp_path: Path, text: str, message: str):
    base = write(tmp_path, "base.yaml", "cis: [{id: web, class: Server}, {id: db, class: Database}]\n")
    load(store, base)
    extra = write(tmp_path, "extra.yaml", text)
    report = load(store, base, extra) if "duplicate" in message else load(store, extra)
    assert not report.ok
    assert any(message in error for error in report.errors), report.errors


def test_dry_run_reports_and_writes_nothing(store: Store):
    report = load(store, DATA / "shop.yaml", dry_run=True)
    assert report.ok and report.dry_run
    assert report.created == 18 and "web-1" in report.would_create["CI"]
    assert graph_counts(store.driver)[0] == 0


def test_json_documents_report_lines_too(store: Store, tmp_path: Path):
    document = {"cis": [{"id": "a", "class": "Server"}, {"id": "b", "class": "Server", "availability": 2}]}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document, indent=2))
    report = load(store, path)
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"{path}:10: cis[1].availability:"), report.errors  # the line of the field itself


def test_csv_pair_loads_with_lists_and_attribute_columns(store: Store, tmp_path: Path):
    write(tmp_path, "cis.csv", """
        id,class,name,criticality,ip_addresses,attributes.os,min_members
        web-1,Server,Web 1,2,10.0.0.1;10.0.0.2,debian,
        web-2,Server,Web 2,2,10.0.0.3,debian,
        farm,Cluster,Web farm,1,,,1
        """)
    write(tmp_path, "relationships.csv", """
        from,to,type,strength
        farm,web-1,HAS_MEMBER,
        farm,web-2,HAS_MEMBER,
        """)
    report = load(store, tmp_path)
    assert report.ok, report.errors
    web = store.get_ci("web-1")
    assert web.ci.ip_addresses == ["10.0.0.1", "10.0.0.2"] and web.ci.attributes == {"os": "debian"}
    assert store.count_relationships() == 2
    assert load(store, tmp_path).unchanged == 5


def test_csv_errors_name_the_row_line(store: Store, tmp_path: Path):
    path = write(tmp_path, "cis.csv", "id,class\nok,Server\nbad,Toaster\n")
    report = load(store, path)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{path}:3: cis[1].class:")


def test_malformed_yaml_names_its_line(store: Store, tmp_path: Path):
    path = write(tmp_path, "broken.yaml", "cis:\n  - {id: a, class: Server\n  - {id: b}\n")
    report = load(store, path)
    assert not report.ok and report.errors[0].startswith(f"{path}:3: file: not valid YAML or JSON")


# --- properties: any valid document loads once, then re-loads as unchanged ----------------

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
classes = st.sampled_from(["Server", "Database", "Application", "VirtualMachine", "BusinessService"])


@st.composite
def documents(draw):
    ci_ids = draw(st.lists(ids, min_size=1, max_size=12, unique=True))
    cis = [
        {"id": ci_id, "class": draw(classes), "criticality": draw(st.none() | st.integers(1, 4)),
         "attributes": draw(st.dictionaries(st.sampled_from(["os", "vendor", "rack"]), st.text(max_size=6), max_size=2))}
        for ci_id in ci_ids
    ]
    pairs = draw(st.lists(st.tuples(st.sampled_from(ci_ids), st.sampled_from(ci_ids)), max_size=20, unique=True))
    rels = [{"from": a, "to": b, "type": draw(st.sampled_from(["DEPENDS_ON", "RUNS_ON"])),
             "strength": draw(st.sampled_from(["hard", "soft"]))} for a, b in pairs if a != b]
    unique_rels = list({(r["from"], r["type"], r["to"]): r for r in rels}.values())
    return {"cis": [{k: v for k, v in c.items() if v is not None} for c in cis], "relationships": unique_rels}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents())
def test_any_valid_document_loads_then_reloads_unchanged(store: Store, tmp_path: Path, document):
    from cmdb_graph.schema import reset_database

    reset_database(store.driver, store.database)
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document))
    first = load(store, path)
    assert first.ok, first.errors
    assert first.created == len(document["cis"]) + len(document["relationships"])
    assert store.count(Label.CI) == len(document["cis"])
    assert store.count_relationships() == len(document["relationships"])
    before = graph_counts(store.driver)
    second = load(store, path)
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)
    assert graph_counts(store.driver) == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents(), bad_index=st.integers(min_value=0))
def test_one_bad_row_anywhere_leaves_the_database_unchanged(store: Store, tmp_path: Path, document, bad_index):
    from cmdb_graph.schema import reset_database

    reset_database(store.driver, store.database)
    load(store, DATA / "shop.yaml")
    before = graph_counts(store.driver)
    document["cis"][bad_index % len(document["cis"])]["criticality"] = 9
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document))
    report = load(store, path)
    assert not report.ok and len(report.errors) == 1
    assert graph_counts(store.driver) == before
