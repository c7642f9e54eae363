"""Database invariants the store guarantees, checked on the real Neo4j.

`check_invariants(driver, database)` returns human-readable violations (empty when all hold).
It is shared: the fuzz and injection tests call it after their writes, the concurrency tests
after theirs. What is checked, and why it holds (see cmdb_graph/store.py):

- structure: every label is a `Label` value or a `CIClass` value; a CI carries exactly one
  class label, the one its `ci_class` says, and only CIs carry class labels; every
  relationship type is a `RelType` or a `RecordRel`; CI-to-CI relationships join two
  different CIs (`HAS_MEMBER` from a Cluster or RedundancyGroup); every record link goes from
  the record's label to the label its model declares (`OWNED_BY`: CI to Team), at most one
  for a single-valued link; a CI's `owner` is the id of the one Team it is `OWNED_BY`.
  (A required link, an SLA's `service`, is NOT guaranteed: deleting the CI an SLA covers
  leaves the SLA without one. `missing_required_links` lists those; it is a known gap, kept
  out of `check_invariants`.)
- identity: every node has an `id`; ids are unique per label.
- versions: every CI, record and CI-to-CI relationship has an integer `version` >= 1.
- audit (`_write_audit`: one AuditEntry per created, updated or deleted item, in the write's
  transaction, `entity_kind` the Label value or "Relationship", `entity_id` the id or
  `relationship_key(source, type, target)`, `version` the version written; a delete's entry
  has the stored version + 1): every versioned item has a trail; along it, ordered by time,
  versions strictly increase, and after a `delete` comes only a new life starting with a
  `create` at version 1; an existing item's last entry is not a `delete`, has the item's
  version, and its `after` is the item's content as stored now (its properties without
  bookkeeping; a record's links as `->key` id lists), so nothing changed an item without
  an audit entry; an item whose trail does not end in `delete` exists.
  The one documented exception is the bulk load (loaders/native/bulk.py, docs/scale.md): it
  writes one `Load` audit entry per load instead of one per item, and stamps what it writes
  with `updated_at` = that entry's `at`; such items are exempt from the per-item audit checks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from neo4j import Driver

from cmdb_graph.model import BOOKKEEPING, GROUP_CLASSES, RECORD_SECTIONS, CIClass, Label, RecordRel, RelType
from cmdb_graph.store import RELATIONSHIP_KIND, relationship_key

CLASS_LABELS = frozenset(c.value for c in CIClass)
KNOWN_LABELS = frozenset(label.value for label in Label) | CLASS_LABELS
CI_REL_TYPES = frozenset(t.value for t in RelType)
RECORD_REL_TYPES = frozenset(t.value for t in RecordRel)
RECORD_LABELS = tuple(model.label.value for model in RECORD_SECTIONS.values())
VERSIONED_LABELS = (Label.CI.value, *RECORD_LABELS)
GROUP_LABELS = frozenset(c.value for c in GROUP_CLASSES)
SHOWN = 10  # offenders named per violation; the count is always complete


def _record_links() -> dict[str, set[tuple[str, str]]]:
    """Record link type -> the (from label, to label) pairs the model allows."""
    allowed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    allowed[RecordRel.OWNED_BY.value].add((Label.CI.value, Label.TEAM.value))
    for model in RECORD_SECTIONS.values():
        for rel, target in model.edges.values():
            allowed[rel.value].add((model.label.value, target.value))
    return dict(allowed)


def _link_cardinality() -> list[tuple[str, str, bool]]:
    """(record label, link type, required) for every single-valued link."""
    single = []
    for model in RECORD_SECTIONS.values():
        for key, (rel, _target) in model.edges.items():
            field = model.model_fields[key]
            if "list" not in str(field.annotation):
                single.append((model.label.value, rel.value, field.is_required()))
    return single


RECORD_LINKS = _record_links()
SINGLE_LINKS = _link_cardinality()


def _rows(driver: Driver, database: str, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(query, params, database_=database, routing_="r")
    return [record.data() for record in records]


def _named(items: list[Any]) -> str:
    shown = ", ".join(repr(i) for i in items[:SHOWN])
    return shown + (f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else "")


# --- structure -----------------------------------------------------------------------------


def _labels(driver: Driver, database: str) -> list[str]:
    problems = []
    rows = _rows(driver, database, "MATCH (n) RETURN labels(n) AS labels, count(*) AS n")
    for row in rows:
        unknown = sorted(set(row["labels"]) - KNOWN_LABELS)
        if unknown or not row["labels"]:
            problems.append(f"{row['n']} node(s) with unexpected labels {row['labels']}")
        primary = [label for label in row["labels"] if label in KNOWN_LABELS - CLASS_LABELS]
        if len(primary) != 1:
            problems.append(f"{row['n']} node(s) with labels {row['labels']}: not exactly one model label")
        classes = [label for label in row["labels"] if label in CLASS_LABELS]
        if classes and primary != [Label.CI.value]:
            problems.append(f"{row['n']} node(s) that are not CIs carry class labels {row['labels']}")
    wrong_class = _rows(driver, database, """
        MATCH (n:CI)
        WITH n, [l IN labels(n) WHERE l IN $classes] AS classes
        WHERE classes <> [n.ci_class]
        RETURN n.id AS id, n.ci_class AS ci_class, classes
        """, classes=sorted(CLASS_LABELS))
    if wrong_class:
        problems.append(f"{len(wrong_class)} CI(s) whose class labels are not their ci_class: "
                        + _named([(r["id"], r["ci_class"], r["classes"]) for r in wrong_class]))
    return problems


def _relationships(driver: Driver, database: str) -> list[str]:
    problems = []
    rows = _rows(driver, database, """
        MATCH (a)-[r]->(b)
        RETURN type(r) AS type, labels(a) AS source, labels(b) AS target,
               count(*) AS n, sum(CASE WHEN a.id IS NULL OR b.id IS NULL THEN 1 ELSE 0 END) AS anonymous,
               sum(CASE WHEN a = b THEN 1 ELSE 0 END) AS loops
        """)
    for row in rows:
        rel_type, n = row["type"], row["n"]
        source = [label for label in row["source"] if label not in CLASS_LABELS]
        target = [label for label in row["target"] if label not in CLASS_LABELS]
        if row["anonymous"]:
            problems.append(f"{row['anonymous']} {rel_type} relationship(s) with an end that has no id")
        if rel_type in CI_REL_TYPES:
            if source != [Label.CI.value] or target != [Label.CI.value]:
                problems.append(f"{n} {rel_type} relationship(s) from {row['source']} to {row['target']}: not CI to CI")
            if row["loops"]:
                problems.append(f"{row['loops']} {rel_type} relationship(s) from a CI to itself")
            if rel_type == RelType.HAS_MEMBER.value and not GROUP_LABELS & set(row["source"]):
                problems.append(f"{n} HAS_MEMBER relationship(s) from {row['source']}: only groups have members")
        elif rel_type in RECORD_REL_TYPES:
            pair = (source[0] if len(source) == 1 else str(source), target[0] if len(target) == 1 else str(target))
            if pair not in RECORD_LINKS[rel_type]:
                problems.append(f"{n} {rel_type} link(s) from {row['source']} to {row['target']}: "
                                f"the model allows {sorted(RECORD_LINKS[rel_type])}")
        else:
            problems.append(f"{n} relationship(s) of unexpected type {rel_type!r}")
    for label, rel_type, _required in SINGLE_LINKS:
        wrong = _rows(driver, database, f"""
            MATCH (n:{label})
            WITH n, COUNT {{ (n)-[:{rel_type}]->() }} AS links
            WHERE links > 1
            RETURN n.id AS id, links
            """)
        if wrong:
            problems.append(f"{len(wrong)} {label}(s) with more than one {rel_type} link: "
                            + _named([(r["id"], r["links"]) for r in wrong]))
    owners = _rows(driver, database, """
        MATCH (n:CI)
        WITH n, [(n)-[:OWNED_BY]->(t) | t.id] AS teams
        WHERE teams <> CASE WHEN n.owner IS NULL THEN [] ELSE [n.owner] END
        RETURN n.id AS id, n.owner AS owner, teams
        """)
    if owners:
        problems.append(f"{len(owners)} CI(s) whose owner is not the one Team they are OWNED_BY: "
                        + _named([(r["id"], r["owner"], r["teams"]) for r in owners]))
    return problems


def _identity(driver: Driver, database: str) -> list[str]:
    problems = []
    for label in sorted(label.value for label in Label):
        rows = _rows(driver, database, f"""
            MATCH (n:{label})
            WITH n.id AS id, count(*) AS n
            WHERE id IS NULL OR n > 1
            RETURN id, n
            """)
        for row in rows:
            if row["id"] is None:
                problems.append(f"{row['n']} {label} node(s) without an id")
            else:
                problems.append(f"{row['n']} {label} nodes share the id {row['id']!r}")
    return problems


# --- versions and the audit trail -------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A stored value as the audit's JSON has it (timestamps as ISO text)."""
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _content(props: dict[str, Any], links: list[list[str]] | None = None, model: Any = None) -> dict[str, Any]:
    """What an audit entry's `after` holds for an item: its properties without bookkeeping,
    empty values dropped; for a record, its links as sorted `->key` id lists."""
    content = {key: _plain(value) for key, value in props.items()
               if key not in BOOKKEEPING and key != "id" and not key.startswith("_")
               and value is not None and value != [] and value != {}}
    if model is not None:
        key_by_type = {rel.value: key for key, (rel, _target) in model.edges.items()}
        targets: dict[str, set[str]] = defaultdict(set)
        for rel_type, target in links or []:
            if rel_type in key_by_type:
                targets[key_by_type[rel_type]].add(target)
        for key, ids in targets.items():
            content[f"->{key}"] = sorted(ids)
    return content


def _versioned_items(driver: Driver, database: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, key) -> {version, updated_at, content} for every CI, record and CI-to-CI
    relationship."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _rows(driver, database, "MATCH (n:CI) RETURN n.id AS id, n.version AS version, "
                                       "toString(n.updated_at) AS updated_at, properties(n) AS props"):
        items[(Label.CI.value, row["id"])] = {**row, "content": _content(row["props"])}
    for model in RECORD_SECTIONS.values():
        label = model.label.value
        rows = _rows(driver, database, f"""
            MATCH (n:{label})
            RETURN n.id AS id, n.version AS version, toString(n.updated_at) AS updated_at, properties(n) AS props,
                   [(n)-[r]->(t) | [type(r), t.id]] AS links
            """)
        for row in rows:
            items[(label, row["id"])] = {**row, "content": _content(row["props"], row["links"], model)}
    rows = _rows(driver, database, """
        MATCH (a:CI)-[r]->(b:CI)
        WHERE type(r) IN $types
        RETURN a.id AS source, type(r) AS type, b.id AS target, r.version AS version,
               toString(r.updated_at) AS updated_at, properties(r) AS props
        """, types=sorted(CI_REL_TYPES))
    for row in rows:
        key = relationship_key(row["source"], row["type"], row["target"])
        items[(RELATIONSHIP_KIND, key)] = {**row, "content": _content(row["props"])}
    return items


def _trails(driver: Driver, database: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    rows = _rows(driver, database, """
        MATCH (e:AuditEntry)
        WHERE e.entity_kind IN $kinds
        RETURN e.entity_kind AS kind, e.entity_id AS key, e.version AS version, e.action AS action,
               e.at AS at, e.id AS id, e.after AS after
        """, kinds=[*VERSIONED_LABELS, RELATIONSHIP_KIND])
    trails: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        trails[(row["kind"], row["key"])].append(row)
    for trail in trails.values():
        trail.sort(key=lambda e: (e["at"].to_native(), e["version"] if isinstance(e["version"], int) else -1))
    return trails


def _bulk_load_times(driver: Driver, database: str) -> set[str]:
    rows = _rows(driver, database, "MATCH (e:AuditEntry {entity_kind: 'Load'}) RETURN toString(e.at) AS at")
    return {row["at"] for row in rows}


def _trail_problems(kind: str, key: str, trail: list[dict[str, Any]]) -> list[str]:
    problems = []
    for entry in trail:
        if not isinstance(entry["version"], int) or entry["version"] < 1:
            problems.append(f"{kind} {key!r}: audit entry {entry['id']} has version {entry['version']!r}")
            return problems
    if trail[0]["action"] != "create":
        problems.append(f"{kind} {key!r}: its audit trail starts with {trail[0]['action']!r}, not 'create'")
    for before, after in zip(trail, trail[1:]):
        if before["action"] == "delete":
            if after["action"] != "create" or after["version"] != 1:
                problems.append(f"{kind} {key!r}: after a delete comes {after['action']!r} at version {after['version']}")
        elif after["action"] == "create":
            problems.append(f"{kind} {key!r}: created again (version {after['version']}) without a delete entry "
                            f"after version {before['version']}")
        elif after["version"] <= before["version"]:
            problems.append(f"{kind} {key!r}: audit versions go from {before['version']} to {after['version']}")
    return problems


def _audit(driver: Driver, database: str) -> list[str]:
    problems = []
    items = _versioned_items(driver, database)
    trails = _trails(driver, database)
    bulk_times = _bulk_load_times(driver, database)
    unversioned, untracked, stale, unaudited = [], [], [], []
    for (kind, key), item in sorted(items.items()):
        version = item["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            unversioned.append((kind, key, version))
            continue
        trail = trails.get((kind, key))
        bulk = item["updated_at"] in bulk_times
        if not trail:
            if not bulk:
                untracked.append((kind, key))
            continue
        last = trail[-1]
        if last["action"] == "delete":
            problems.append(f"{kind} {key!r} exists, but its last audit entry is a delete (version {last['version']})")
        elif last["version"] != version and not bulk:
            stale.append((kind, key, version, last["version"]))
        elif not bulk and json.loads(last["after"] or "null") != item["content"]:
            unaudited.append((kind, key, version))
    if unversioned:
        problems.append(f"{len(unversioned)} item(s) without an integer version >= 1: {_named(unversioned)}")
    if untracked:
        problems.append(f"{len(untracked)} item(s) without any audit entry: {_named(untracked)}")
    if stale:
        problems.append(f"{len(stale)} item(s) whose version is not their last audit entry's "
                        f"(kind, key, version, audited): {_named(stale)}")
    if unaudited:
        problems.append(f"{len(unaudited)} item(s) whose content is not what their last audit entry wrote "
                        f"(kind, key, version): {_named(unaudited)}")
    vanished = []
    for (kind, key), trail in sorted(trails.items()):
        problems += _trail_problems(kind, key, trail)
        if (kind, key) not in items and trail[-1]["action"] != "delete":
            vanished.append((kind, key, trail[-1]["action"], trail[-1]["version"]))
    if vanished:
        problems.append(f"{len(vanished)} item(s) gone without a delete audit entry "
                        f"(kind, key, last action, version): {_named(vanished)}")
    return problems


def missing_required_links(driver: Driver, database: str) -> list[str]:
    """Records without a link their model requires (an SLA without the service it covers)."""
    problems = []
    for label, rel_type, required in SINGLE_LINKS:
        if not required:
            continue
        rows = _rows(driver, database, f"MATCH (n:{label}) WHERE NOT (n)-[:{rel_type}]->() RETURN n.id AS id")
        if rows:
            problems.append(f"{len(rows)} {label}(s) without their {rel_type} link: {_named([r['id'] for r in rows])}")
    return problems


def check_invariants(driver: Driver, database: str) -> list[str]:
    """Every violation of the store's invariants, as a sentence; [] when all hold."""
    return [
        *_labels(driver, database),
        *_relationships(driver, database),
        *_identity(driver, database),
        *_audit(driver, database),
    ]
