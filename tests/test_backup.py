"""Backup and restore against the real Neo4j: a round trip gives back the same graph (the
canonical hash proves it, types included), a bad file is refused before anything is written,
a restore that fails midway leaves the database empty, and a backup taken while writes land
is consistent."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from cmdb_graph.backup import (
    BackupError,
    BackupFileError,
    CanonicalHasher,
    RestoreRefused,
    backup,
    canonical_hash,
    count_nodes,
    restore,
)
from cmdb_graph.cli import app
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.demo import build_demo
from cmdb_graph.model import CI, CIClass, Label, Relationship, RelType
from cmdb_graph.schema import reset_database
from cmdb_graph.store import Store
from loaders.native import load_paths
from loaders.native.get import read_mapping
from loaders.native.load import load_document
from loaders.native.transform import Document, transform
from tests.conftest import DATA

runner = CliRunner()

TYPED_TEAM = f"""
CREATE (t:{Label.TEAM.value} {{id: $id, name: $name, zoned: datetime($zoned), named_zone: datetime($named_zone),
  local: localdatetime($local), day: date($day), clock: time($clock), local_clock: localtime($local_clock),
  span: duration($span), moments: [x IN $moments | datetime(x)], ratio: $ratio, big: $big, flag: $flag,
  nothing: $nothing, text: $text}})
"""
API_KEY = f"""
CREATE (k:{Label.API_KEY.value} {{id: $id, name: $name, role: $role, hash: $hash, created_at: datetime($at),
  created_by: $by}})
"""
SYNC_RUN = f"CREATE (r:{Label.SYNC_RUN.value}) SET r = $props, r.started_at = datetime($at), r.finished_at = datetime($at)"
PROPERTY_TYPES = "MATCH (n) UNWIND keys(n) AS k RETURN n.id AS id, k, valueType(n[k]) AS type ORDER BY id, k"


def fill(store: Store, *, demo: bool = False) -> None:
    """shop.yaml (or the demo), an API key, an import run and a team holding every type."""
    if demo:
        transformed = transform(read_mapping("demo", build_demo()))
        report = load_document(store, transformed.document, files=["demo"], source="demo", actor="test",
                               errors=[], transformed=transformed)
    else:
        report = load_paths(store, [DATA / "shop.yaml"], actor="test")
    assert report.ok, report.errors[:3]
    run = store.driver.execute_query
    db = store.database
    run(TYPED_TEAM, id="team-typed", name="Équipe ✓ \"quoted\" 'x'", zoned="2024-05-01T10:00:00.123456789+02:00",
        named_zone="2024-05-01T10:00:00[Europe/Paris]", local="2024-05-01T10:00:00", day="2024-05-01",
        clock="10:00:00.5+01:00", local_clock="23:59:59.999999999", span="P1Y2M3DT4H5M6.000000007S",
        moments=["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z[UTC]"], ratio=0.1, big=2**62, flag=False,
        nothing=[], text="line\nbreak", database_=db)
    run(API_KEY, id="key-1", name="ci-bot", role="editor", hash="sha256$" + "ab" * 32, at="2024-05-01T10:00:00Z",
        by="cli:test", database_=db)
    run(SYNC_RUN, props={"id": "netbox-20240501T100000-1a2b3c4d", "source": "netbox", "rows": 12,
                         "findings": ["a", "b"]}, at="2024-05-01T10:00:00Z", database_=db)


def property_types(driver: Driver) -> list[tuple]:
    return [tuple(r.values()) for r in driver.execute_query(PROPERTY_TYPES, routing_="r").records]


def lines_of(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def rewrite(source: Path, target: Path, edit: Callable[[list[dict[str, Any]]], None], *, rehash: bool = True) -> Path:
    """A copy of a backup with `edit` applied; with `rehash`, its header counts and hashes
    recomputed, so that only what the edit broke can refuse it."""
    lines = lines_of(source)
    edit(lines)
    if rehash:
        hasher = CanonicalHasher()
        for line in lines[1:]:
            hasher.add(line)
        header = lines[0]
        header.update(hasher.hashes().model_dump())
        header["counts"]["nodes"] = sum(1 for line in lines[1:] if "labels" in line)
        header["counts"]["relationships"] = sum(1 for line in lines[1:] if "type" in line)
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return target


def first_index(lines: list[dict[str, Any]], kind: str, when: Callable[[dict], bool] = lambda line: True) -> int:
    return next(i for i, line in enumerate(lines) if i and kind in line and when(line))


@pytest.fixture
def db(neo4j_target: Neo4jTarget) -> str:
    return neo4j_target.database


@pytest.fixture
def saved(store: Store, db: str, tmp_path: Path) -> Path:
    """shop.yaml and friends, backed up to a file; the database still holds them."""
    fill(store)
    path = tmp_path / "shop.jsonl.gz"
    backup(store.driver, db, path)
    return path


# --- round trip and hash ------------------------------------------------------------------------


def test_backup_reset_restore_gives_back_the_same_graph_to_the_hash(store: Store, driver: Driver, db: str, tmp_path: Path):
    fill(store, demo=True)
    exact, content = canonical_hash(driver, db), canonical_hash(driver, db, content_only=True)
    types = property_types(driver)
    path = tmp_path / "demo.jsonl.gz"

    summary = backup(driver, db, path)
    assert (summary.hash, summary.content_hash, summary.attempts) == (exact, content, 1)
    assert summary.counts.nodes == count_nodes(driver, db)
    assert summary.counts.labels[Label.API_KEY.value] == 1 and summary.counts.labels[Label.SYNC_RUN.value] == 1
    assert summary.counts.labels[Label.AUDIT_ENTRY.value] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.jsonl.gz"]  # no partial files left
    header = lines_of(path)[0]
    assert header["format"] == "cmdb-graph-backup" and header["format_version"] == 1 and header["hash"] == exact
    assert {"$": "datetime", "v": "2024-05-01T10:00:00+02:00[Europe/Paris]"} in [
        line["props"].get("named_zone") for line in lines_of(path)[1:] if "labels" in line]

    reset_database(driver, db)
    assert canonical_hash(driver, db) != exact
    restored = restore(driver, db, path, batch_rows=500)
    assert restored.matches and restored.restored_hash == exact and restored.restored_content_hash == content
    assert canonical_hash(driver, db) == exact and canonical_hash(driver, db, content_only=True) == content
    assert property_types(driver) == types  # DateTime with its zone, Date, Duration... come back as themselves
    some_ci = driver.execute_query(f"MATCH (n:{Label.CI.value}) RETURN n.id AS id LIMIT 1").records[0]["id"]
    assert store.get_ci(some_ci) is not None and store.history(some_ci)
    print(f"\ndemo: {summary.counts.nodes} nodes, {summary.counts.relationships} relationships, "
          f"{summary.bytes / 1e6:.2f} MB, backup {summary.seconds:.2f}s, restore {restored.seconds:.2f}s")


def test_canonical_hash_ignores_internal_ids_and_order_and_content_hash_ignores_when(store: Store, driver: Driver, db: str):
    teams = f"UNWIND $ids AS id CREATE (:{Label.TEAM.value} {{id: id, name: id}})"
    drop_teams = f"MATCH (t:{Label.TEAM.value}) WHERE t.id IN $ids DELETE t"
    cis = f"UNWIND $ids AS id CREATE (:{Label.CI.value}:{CIClass.SERVER.value} {{id: id}})"
    link = (f"MATCH (a:{Label.CI.value} {{id: $a}}), (b:{Label.CI.value} {{id: $b}}) "
            f"CREATE (a)-[:{RelType.RUNS_ON.value}]->(b)")
    hashes = []
    for order, shift in ((["a", "b", "c"], 0), (["c", "b", "a"], 50)):
        reset_database(driver, db)
        spacers = [f"spacer-{i}" for i in range(shift)]  # other internal ids for the same nodes
        driver.execute_query(teams, ids=spacers, database_=db)
        driver.execute_query(drop_teams, ids=spacers, database_=db)
        driver.execute_query(teams, ids=order, database_=db)
        driver.execute_query(cis, ids=order, database_=db)
        driver.execute_query(link, a="a", b="b", database_=db)
        hashes.append(canonical_hash(driver, db))
    assert hashes[0] == hashes[1]
    driver.execute_query(link, a="b", b="a", database_=db)
    assert canonical_hash(driver, db) != hashes[0]

    reset_database(driver, db)
    assert load_paths(store, [DATA / "shop.yaml"], actor="test").ok
    first = canonical_hash(driver, db), canonical_hash(driver, db, content_only=True)
    reset_database(driver, db)
    assert load_paths(store, [DATA / "shop.yaml"], actor="someone else").ok
    second = canonical_hash(driver, db), canonical_hash(driver, db, content_only=True)
    assert first[0] != second[0] and first[1] == second[1]
    stored = store.get_ci("web-2")
    store.update_ci("web-2", {"name": "web two"}, stored.version, "test")
    assert canonical_hash(driver, db, content_only=True) != first[1]


# --- refusals ---------------------------------------------------------------------------------


def test_restore_refuses_a_database_that_is_not_empty_and_writes_nothing(saved: Path, driver: Driver, db: str):
    before = canonical_hash(driver, db)
    with pytest.raises(RestoreRefused, match="holds .* nodes; a restore goes into an empty database only"):
        restore(driver, db, saved)
    assert canonical_hash(driver, db) == before


def _relabel(label: str) -> Callable[[list[dict]], None]:
    def edit(lines: list[dict]) -> None:
        lines[first_index(lines, "labels", lambda line: Label.CI.value in line["labels"])]["labels"].append(label)
    return edit


def _retype(rel_type: str) -> Callable[[list[dict]], None]:
    def edit(lines: list[dict]) -> None:
        lines[first_index(lines, "type")]["type"] = rel_type
    return edit


def _set_prop(value: Any) -> Callable[[list[dict]], None]:
    def edit(lines: list[dict]) -> None:
        lines[first_index(lines, "labels")]["props"]["odd"] = value
    return edit


def _node_last(lines: list[dict]) -> None:
    lines.append(lines.pop(first_index(lines, "labels")))


def _no_kind(lines: list[dict]) -> None:
    lines[first_index(lines, "labels", lambda line: Label.CI.value in line["labels"])]["labels"].remove(Label.CI.value)


@pytest.mark.parametrize(("edit", "message"), [
    (_relabel("Hacker"), "unknown node label 'Hacker'"),
    (_relabel("CI) DETACH DELETE n //"), "unknown node label 'CI) DETACH DELETE n //'"),
    (_relabel("Server`:`X"), "unknown node label 'Server`:`X'"),
    (_retype("OWNS"), "unknown relationship type 'OWNS'"),
    (_retype("DEPENDS_ON]->() MATCH (n) DETACH DELETE n //"), "unknown relationship type 'DEPENDS_ON]->()"),
    (_no_kind, "labels ['Server'] name no kind of node"),
    (_node_last, "a node after the relationships"),
    (_set_prop({"$": "point", "v": "point({x: 1})"}), "property 'odd' holds an unknown tagged value"),
    (_set_prop({"$": "datetime", "v": "x", "cypher": "DETACH DELETE n"}), "property 'odd' holds an unknown tagged value"),
    (_set_prop([1, "a"]), "property 'odd' holds a list of mixed types"),
    (_set_prop(None), "property 'odd' holds null"),
    (_set_prop(2**64), "property 'odd' holds an integer outside 64 bits"),
], ids=["unknown-label", "injection-label", "backtick-label", "unknown-type", "injection-type", "no-kind",
        "order", "unknown-tag", "extra-key", "mixed-list", "null", "huge-int"])
def test_unknown_or_hostile_names_and_values_are_refused_with_file_and_line(
        saved: Path, driver: Driver, db: str, tmp_path: Path, edit: Callable, message: str):
    bad = rewrite(saved, tmp_path / "bad.jsonl.gz", edit)
    reset_database(driver, db)
    with pytest.raises(BackupFileError, match=rf"^{re.escape(str(bad))}:\d+: {re.escape(message)}"):
        restore(driver, db, bad)
    assert count_nodes(driver, db) == 0


def _header(key: str, value: Any) -> Callable[[list[dict]], None]:
    def edit(lines: list[dict]) -> None:
        lines[0][key] = value
    return edit


def _drop_line(lines: list[dict]) -> None:
    del lines[-1]


def _change_value(lines: list[dict]) -> None:
    lines[first_index(lines, "labels", lambda line: line["props"].get("id") == "web-1")]["props"]["name"] = "evil"


@pytest.mark.parametrize(("damage", "message"), [
    (lambda data: data[: len(data) // 2], "the file ends early: truncated"),
    (lambda data: data[:-4] + bytes([data[-4] ^ 0xFF]) + data[-3:], "damaged"),
    (lambda data: data[:600] + bytes([data[600] ^ 0xFF]) + data[601:], "damaged"),
    (lambda data: b"format: cmdb-graph-backup\n", "not a readable gzip file"),
    (lambda data: b"", "empty file: not a backup"),
], ids=["truncated", "bad-length-or-crc", "flipped-byte", "not-gzip", "empty"])
def test_truncated_or_damaged_files_are_refused_and_the_database_left_empty(
        saved: Path, driver: Driver, db: str, tmp_path: Path, damage: Callable[[bytes], bytes], message: str):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(damage(saved.read_bytes()))
    reset_database(driver, db)
    with pytest.raises(BackupFileError, match=re.escape(message)):
        restore(driver, db, bad)
    assert count_nodes(driver, db) == 0


@pytest.mark.parametrize(("edit", "message"), [
    (_drop_line, "but the header says"),
    (_change_value, "the lines do not hash to the header's hash"),
    (_header("format", "something-else"), "not a cmdb-graph-backup file"),
    (_header("format_version", 99), "format version 99; this cmdb-graph (0.1.0) reads version 1"),
    (_header("hash", 12), "invalid header"),
], ids=["line-dropped", "value-changed", "format", "version", "header-field"])
def test_altered_files_are_refused_and_the_database_left_empty(
        saved: Path, driver: Driver, db: str, tmp_path: Path, edit: Callable, message: str):
    bad = rewrite(saved, tmp_path / "bad.jsonl.gz", edit, rehash=False)
    reset_database(driver, db)
    with pytest.raises(BackupFileError, match=re.escape(message)):
        restore(driver, db, bad)
    assert count_nodes(driver, db) == 0


def _missing_end(lines: list[dict]) -> None:
    del lines[first_index(lines, "labels", lambda line: line["props"].get("id") == "db-1")]


def _duplicate_node(lines: list[dict]) -> None:
    lines.insert(first_index(lines, "type"), lines[first_index(lines, "labels", lambda line: line["props"].get("id") == "shop")])


def _bad_time_last(lines: list[dict]) -> None:
    """On the last node, so that batches are written before it fails."""
    lines[first_index(lines, "type") - 1]["props"]["odd"] = {"$": "datetime", "v": "not a time"}


@pytest.mark.parametrize(("edit", "message"), [
    (_missing_end, "name an end the backup does not hold"),
    (_duplicate_node, "already exists"),
    (_bad_time_last, "not a time"),
], ids=["missing-end", "duplicate", "bad-temporal-text"])
def test_a_restore_that_fails_midway_empties_the_database_again(
        saved: Path, driver: Driver, db: str, tmp_path: Path, edit: Callable, message: str):
    bad = rewrite(saved, tmp_path / "bad.jsonl.gz", edit)
    reset_database(driver, db)
    written = []
    with pytest.raises(BackupError, match=rf"(?s)restore failed \({re.escape(str(bad))}:\d+-\d+: .*{re.escape(message)}.*\); "
                                          "the database was emptied again"):
        restore(driver, db, bad, batch_rows=3,
                progress=lambda phase, done, total: written.append(done) if phase == "restoring" else None)
    assert max(written) > 0  # batches had been committed before the failure
    assert count_nodes(driver, db) == 0


# --- consistency while writes land ----------------------------------------------------------------


def _write_ci(store: Store, number: int, target: str = "web-1") -> None:
    """One new CI and its relationship to `target`, in one transaction (with their audit entries)."""
    ci = CI.model_validate({"id": f"added-{number}", "class": "VirtualMachine"})
    rel = Relationship.model_validate({"from": ci.id, "to": target, "type": "RUNS_ON"})
    store.apply(Document(cis=[ci], relationships=[rel]), "test", "writer")


def test_a_write_during_the_dump_makes_the_backup_take_it_again(saved: Path, store: Store, driver: Driver, db: str,
                                                              tmp_path: Path):
    written = []

    def write_once(phase: str, done: int, total: int) -> None:
        if phase == "relationships" and not written:
            _write_ci(store, len(written))
            written.append(1)

    path = tmp_path / "again.jsonl.gz"
    summary = backup(driver, db, path, progress=write_once)
    assert summary.attempts == 2 and summary.hash == canonical_hash(driver, db)
    assert any(line.get("props", {}).get("id") == "added-0" for line in lines_of(path))

    def write_always(phase: str, done: int, total: int) -> None:
        if phase == "nodes" and done == 0:  # an attempt starts
            written.append(0)
        elif phase == "relationships" and not written[-1]:
            written[-1] = 1
            _write_ci(store, len(written))

    refused = tmp_path / "refused.jsonl.gz"
    with pytest.raises(BackupError, match="changed during each of 3 attempts"):
        backup(driver, db, refused, attempts=3, progress=write_always)
    assert not refused.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["again.jsonl.gz", "shop.jsonl.gz"])


WRITTEN = f"""
MATCH (n:{Label.CI.value}) WHERE n.id STARTS WITH 'added-'
RETURN count(n) AS cis,
       COUNT {{ MATCH (a:{Label.CI.value})-[:{RelType.RUNS_ON.value}]->(:{Label.CI.value} {{id: $target}})
               WHERE a.id STARTS WITH 'added-' }} AS rels,
       COUNT {{ MATCH (e:{Label.AUDIT_ENTRY.value} {{actor: 'writer'}}) }} AS audit
"""


def test_a_backup_taken_while_a_writer_keeps_writing_is_consistent(store: Store, driver: Driver, db: str,
                                                                  tmp_path: Path):
    fill(store, demo=True)
    target = driver.execute_query(f"MATCH (n:{Label.CI.value}) RETURN n.id AS id ORDER BY id LIMIT 1").records[0]["id"]
    count = [0]
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            ends = time.monotonic() + 3
            while time.monotonic() < ends:
                _write_ci(store, count[0], target)
                count[0] += 1
                time.sleep(0.02)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while count[0] < 3 and thread.is_alive():  # writing is under way
            time.sleep(0.02)
        path = tmp_path / "during.jsonl.gz"
        summary = backup(driver, db, path, attempts=10)
        during = count[0]
    finally:
        thread.join()  # the writer stops by itself after 3 s
    assert not failures and during >= 3
    print(f"\nbackup while writing: {during} writes before it ended ({count[0]} in all), {summary.attempts} attempts, "
          f"{summary.seconds:.1f}s")
    reset_database(driver, db)
    restored = restore(driver, db, path)
    assert restored.matches
    # each write added a CI, its RUNS_ON and two audit entries together: a torn dump would not hold as many of each
    added = driver.execute_query(WRITTEN, target=target).records[0]
    assert added["cis"] > 0 and added["rels"] == added["cis"] and added["audit"] == 2 * added["cis"]


# --- the command line -------------------------------------------------------------------------


def test_cli_hash_backup_restore_round_trip(store: Store, driver: Driver, db: str, neo4j_env, tmp_path: Path):
    fill(store)
    hashed = runner.invoke(app, ["db", "hash"])
    assert hashed.exit_code == 0 and re.fullmatch(r"[0-9a-f]{64}\n", hashed.stdout)
    assert hashed.stdout.strip() == canonical_hash(driver, db)
    content = runner.invoke(app, ["db", "hash", "--content-only"])
    assert content.stdout.strip() == canonical_hash(driver, db, content_only=True) != hashed.stdout.strip()

    path = tmp_path / "cli.jsonl.gz"
    made = runner.invoke(app, ["backup", str(path)])
    assert made.exit_code == 0, made.output
    assert made.stdout.count("\n") == 1 and made.stdout.startswith("backed up ")
    assert hashed.stdout.strip() in made.stdout
    as_json = runner.invoke(app, ["backup", str(tmp_path / "cli2.jsonl.gz"), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["hash"] == hashed.stdout.strip()

    refused = runner.invoke(app, ["restore", str(path)])
    assert refused.exit_code == 1 and "db reset --yes" in refused.stderr and "nothing was written" in refused.stderr
    assert runner.invoke(app, ["db", "reset", "--yes"]).exit_code == 0
    restored = runner.invoke(app, ["restore", str(path)])
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.startswith("restored ")
    assert f"backup hash   {hashed.stdout.strip()}" in restored.stdout
    assert f"restored hash {hashed.stdout.strip()}" in restored.stdout
    assert runner.invoke(app, ["db", "hash"]).stdout == hashed.stdout
    runner.invoke(app, ["db", "reset", "--yes"])
    as_json = runner.invoke(app, ["restore", str(path), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["matches"] is True

    bad = rewrite(path, tmp_path / "bad.jsonl.gz", _relabel("[red]Hacker"))
    runner.invoke(app, ["db", "reset", "--yes"])
    refused = runner.invoke(app, ["restore", str(bad)])
    assert refused.exit_code == 1 and f"{bad}:" in refused.stderr and "unknown node label '[red]Hacker'" in refused.stderr
    assert "Traceback" not in refused.output and count_nodes(driver, db) == 0

    # Neo4j writes `+00:00` as `Z`: a file that says otherwise restores, but not to its own hash
    skewed = rewrite(path, tmp_path / "skewed.jsonl.gz",
                     _set_prop({"$": "datetime", "v": "2024-05-01T10:00:00+00:00"}))
    differs = runner.invoke(app, ["restore", str(skewed)])
    assert differs.exit_code == 1 and "hash differs" in differs.stderr
    lines = differs.stdout.splitlines()
    assert lines[1].split()[-1] != lines[2].split()[-1]
