"""The Neo4j store: the Cypher that reads and writes CIs, relationships and records.

Every write goes through `write_plan`: it stamps bookkeeping (version, timestamps, source),
leaves one audit entry per item changed, and runs in the caller's transaction, so a load or a
mutation is all-or-nothing. Labels and relationship types in Cypher text come only from the
model's enums; every value is a parameter.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from neo4j import Driver, ManagedTransaction, unit_of_work
from neo4j.exceptions import ClientError, DriverError, Neo4jError, TransientError
from neo4j.time import Date as Neo4jDate
from neo4j.time import DateTime as Neo4jDateTime
from pydantic import BaseModel, ValidationError

from cmdb_graph.model import (
    BOOKKEEPING,
    CI,
    RECORD_SECTIONS,
    SYNC_BOOKKEEPING,
    CIClass,
    Label,
    Record,
    RecordRel,
    Relationship,
    RelType,
    from_neo4j_text,
)

Action = Literal["create", "update", "unchanged", "delete"]
RELATIONSHIP_KIND = "Relationship"


class StoreError(Exception):
    """A write was refused; nothing was written."""


class ConflictError(StoreError):
    """The item changed since the caller read it (optimistic locking)."""

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class NotFoundError(StoreError):
    pass


class HasDependentsError(StoreError):
    pass


class WriteContended(StoreError):
    """A write kept colliding with concurrent writes (deadlocks, lock waits) until its time
    budget ran out; nothing was written and the caller may try again."""


# --- plans: what a write will do, computed inside the transaction that does it ------------


@dataclass
class ItemChange:
    kind: str  # a Label value, or "Relationship"
    key: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: list[str] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)  # what the write query needs
    stored_version: int = 0  # 0: it does not exist yet


@dataclass
class WritePlan:
    changes: list[ItemChange] = field(default_factory=list)

    def of(self, kind: str, *actions: Action) -> list[ItemChange]:
        return [c for c in self.changes if c.kind == kind and (not actions or c.action in actions)]

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = defaultdict(lambda: {"create": 0, "update": 0, "unchanged": 0, "delete": 0})
        for change in self.changes:
            table[change.kind][change.action] += 1
        return dict(table)

    def total(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


# --- converting between the model and stored properties ------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Neo4jDateTime):
        return value.to_native()
    if isinstance(value, Neo4jDate):
        return value.to_native()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_set(value: Any) -> bool:
    """Neo4j stores no empty value: None, [] and {} mean the property is absent."""
    return value is not None and value != [] and value != {}


def _content(props: dict[str, Any]) -> dict[str, Any]:
    """Stored properties without bookkeeping, as Python values, empty values dropped."""
    return {key: _plain(value) for key, value in props.items()
            if key not in BOOKKEEPING and key != "id" and _is_set(value)}


def ci_content(ci: CI) -> dict[str, Any]:
    """A CI's stored content (maps as JSON text); dumped as JSON values, which is what the
    store keeps and three times faster than converting each value (a bulk load does 1M)."""
    props = ci.model_dump(mode="json", exclude={"id", "attributes", "external_ids"})
    props["layer"] = ci.layer.value
    if ci.attributes:
        props["attributes"] = json.dumps(ci.attributes, sort_keys=True, default=str)
    if ci.external_ids:
        props["external_ids"] = json.dumps(ci.external_ids, sort_keys=True)
    return {key: value for key, value in props.items() if _is_set(value)}


def relationship_content(rel: Relationship) -> dict[str, Any]:
    return {"strength": rel.strength.value}


def relationship_key(source: str, rel_type: RelType | str, target: str) -> str:
    return f"{source}|{RelType(rel_type).value}|{target}"


def record_content(record: Record) -> dict[str, Any]:
    content = _content(record.properties())
    for key, targets in record.edge_targets().items():
        if targets:
            content[f"->{key}"] = targets
    return content


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _json(props: dict[str, Any] | None) -> str | None:
    if props is None:
        return None
    return json.dumps({k: _jsonable(v) for k, v in sorted(props.items())}, default=str)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- reading what exists -----------------------------------------------------------------

# Bookkeeping timestamps travel as text and are parsed here: the driver decodes a zoned
# DateTime some fifty times slower than `fromisoformat`, and a load reads every stored item.
TIMESTAMPS_AS_TEXT = ("created_at: toString(n.created_at), updated_at: toString(n.updated_at), "
                      "first_seen: toString(n.first_seen), last_seen: toString(n.last_seen)")
STORED_TIMESTAMPS = ("created_at", "updated_at", "first_seen", "last_seen")


def _with_timestamps(props: dict[str, Any]) -> dict[str, Any]:
    for key in STORED_TIMESTAMPS:
        if props.get(key) is not None:
            props[key] = from_neo4j_text(props[key])
        else:
            props.pop(key, None)
    return props


EXISTING_CIS = f"""
UNWIND $ids AS id
MATCH (n:CI {{id: id}})
RETURN n.id AS id, n {{.*, {TIMESTAMPS_AS_TEXT}}} AS props
"""


def existing_cis(tx: ManagedTransaction, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    result = tx.run(EXISTING_CIS, ids=list(ids))
    return {r["id"]: _with_timestamps(dict(r["props"])) for r in result}


# Only the dependent end is looked up (`b` has no label, so the planner cannot start there):
# from a data centre's side, finding one server's LOCATED_IN would be quadratic in a batch.
# Every CI relationship type joins two CIs, so `b` is a CI.
EXISTING_RELATIONSHIPS = f"""
UNWIND $keys AS key
MATCH (a:CI {{id: key.source}})-[n]->(b)
WHERE b.id = key.target AND type(n) = key.type
RETURN key.source AS source, type(n) AS type, key.target AS target, n {{.*, {TIMESTAMPS_AS_TEXT}}} AS props
"""


def _existing_relationships(tx: ManagedTransaction, keys: Sequence[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
    rows = [{"source": s, "type": t, "target": d} for s, t, d in keys]
    result = tx.run(EXISTING_RELATIONSHIPS, keys=rows)
    return {relationship_key(r["source"], r["type"], r["target"]): _with_timestamps(dict(r["props"])) for r in result}


def _existing_records_query(label: Label) -> str:
    return f"""
UNWIND $ids AS id
MATCH (n:{Label(label).value} {{id: id}})
RETURN n.id AS id, properties(n) AS props,
       [(n)-[r]->(t) WHERE type(r) IN $edge_types | {{type: type(r), id: t.id}}] AS edges
"""


def _existing_records(tx: ManagedTransaction, model: type[Record], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    edge_key_by_type = {rel.value: key for key, (rel, _label) in model.edges.items()}
    result = tx.run(_existing_records_query(model.label), ids=list(ids), edge_types=list(edge_key_by_type))
    existing: dict[str, dict[str, Any]] = {}
    for record in result:
        props = dict(record["props"])
        targets: dict[str, list[str]] = defaultdict(list)
        for edge in record["edges"]:
            targets[edge_key_by_type[edge["type"]]].append(edge["id"])
        for key, ids_ in targets.items():
            props[f"->{key}"] = sorted(ids_)
        existing[record["id"]] = props
    return existing


# --- planning ----------------------------------------------------------------------------


def _plan_item(
    kind: str, key: str, content: dict[str, Any], stored: dict[str, Any] | None, now: datetime, source: str
) -> ItemChange:
    if stored is None:
        book = {"version": 1, "created_at": now, "updated_at": now, "source": source, "first_seen": now, "last_seen": now}
        return ItemChange(kind, key, "create", None, content, sorted(content), row={"book": book})
    before = _content(stored)
    changed = _diff(before, content)
    stored_version = int(stored.get("version") or 0)
    if not changed:
        return ItemChange(kind, key, "unchanged", before, content, [], row={"version": stored_version},
                          stored_version=stored_version)
    book = {
        "version": int(stored.get("version") or 0) + 1,
        "created_at": stored.get("created_at") or now,
        "updated_at": now,
        "source": source,
        "first_seen": stored.get("first_seen") or now,
        "last_seen": now,
        **{name: stored[name] for name in SYNC_BOOKKEEPING if name in stored},
    }
    return ItemChange(kind, key, "update", before, content, changed, row={"book": book},
                      stored_version=stored_version)


def check_expectations(plan: WritePlan, expected: dict[tuple[str, str], int], must_be_new: set[tuple[str, str]]) -> None:
    """Refuse the whole plan if an item is not at the version its writer read, or exists
    when it was to be created."""
    for change in plan.changes:
        item = (change.kind, change.key)
        if item in must_be_new and change.stored_version:
            raise StoreError(f"{change.kind} {change.key!r} already exists (version {change.stored_version}); update it instead")
        want = expected.get(item)
        if want is not None and want != change.stored_version:
            state = f"at version {change.stored_version}" if change.stored_version else "does not exist"
            raise ConflictError(
                f"{change.kind} {change.key!r} is {state}, not version {want}: it changed since you read it",
                current_version=change.stored_version or None,
            )


def _lock_query(label: Label) -> str:
    return f"UNWIND $ids AS id MATCH (n:{Label(label).value} {{id: id}}) SET n._lock = true REMOVE n._lock"


LOCK_NODES = {label: _lock_query(label) for label in Label}


def plan_cis(
    tx: ManagedTransaction, cis: Sequence[CI], now: datetime, source: str,
    stored: dict[str, dict[str, Any]] | None = None,
) -> list[ItemChange]:
    """`stored`: the CIs' stored properties, when the caller has read them already."""
    if stored is None:
        stored = existing_cis(tx, [ci.id for ci in cis])
    changes = []
    for ci in cis:
        content = ci_content(ci)
        previous = stored.get(ci.id)
        change = _plan_item(Label.CI.value, ci.id, content, previous, now, source)
        old_class = previous.get("ci_class") if previous else None
        change.row.update(
            ci_class=ci.ci_class.value,
            drop_labels=[old_class] if old_class and old_class != ci.ci_class.value and old_class in CIClass._value2member_map_ else [],
            owner=ci.owner,
        )
        changes.append(change)
    return changes


def plan_relationships(
    tx: ManagedTransaction, relationships: Sequence[Relationship], now: datetime, source: str
) -> list[ItemChange]:
    stored = _existing_relationships(tx, [rel.key for rel in relationships])
    changes = []
    for rel in relationships:
        key = relationship_key(*rel.key)
        change = _plan_item(RELATIONSHIP_KIND, key, relationship_content(rel), stored.get(key), now, source)
        change.row.update(source=rel.source, target=rel.target, type=rel.type.value)
        changes.append(change)
    return changes


def plan_records(
    tx: ManagedTransaction, model: type[Record], records: Sequence[Record], now: datetime, source: str
) -> list[ItemChange]:
    stored = _existing_records(tx, model, [r.id for r in records])
    changes = []
    for record in records:
        change = _plan_item(model.label.value, record.id, record_content(record), stored.get(record.id), now, source)
        change.row.update(edges=record.edge_targets())
        changes.append(change)
    return changes


# --- writing -----------------------------------------------------------------------------

WRITE_CIS = """
UNWIND $rows AS row
MERGE (n:CI {id: row.id})
SET n = row.props
SET n:$(row.ci_class)
REMOVE n:$(row.drop_labels)
WITH n, row
OPTIONAL MATCH (n)-[owned:OWNED_BY]->()
DELETE owned
WITH DISTINCT n, row
CALL (n, row) {
  MATCH (team:Team {id: row.owner})
  MERGE (n)-[:OWNED_BY]->(team)
}
RETURN count(n) AS written
"""

def _write_relationships_query(rel_type: RelType) -> str:
    # One query per type, the type written out: MERGE on a dynamic type cannot expand from
    # the sparser end, and turns quadratic around a dense node (a data centre).
    return f"""
UNWIND $rows AS row
MATCH (a:CI {{id: row.source}})
MATCH (b:CI {{id: row.target}})
MERGE (a)-[r:{RelType(rel_type).value}]->(b)
SET r = row.props
RETURN count(r) AS written
"""


WRITE_RELATIONSHIPS = {rel_type: _write_relationships_query(rel_type) for rel_type in RelType}

WRITE_AUDIT = """
UNWIND $entries AS entry
CREATE (e:AuditEntry)
SET e = entry
RETURN count(e) AS written
"""


def _write_records_query(model: type[Record]) -> str:
    return f"""
UNWIND $rows AS row
MERGE (n:{model.label.value} {{id: row.id}})
SET n = row.props
WITH n, row
OPTIONAL MATCH (n)-[old]->()
WHERE type(old) IN $edge_types
DELETE old
RETURN count(DISTINCT n) AS written
"""


def _write_record_edges_query(model: type[Record], rel: RecordRel, target: Label) -> str:
    return f"""
UNWIND $rows AS row
MATCH (n:{model.label.value} {{id: row.source}})
MATCH (t:{Label(target).value} {{id: row.target}})
MERGE (n)-[:{RecordRel(rel).value}]->(t)
RETURN count(*) AS written
"""


def batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def run_counted(tx: ManagedTransaction, query: str, rows: Sequence[Any], batch_size: int, what: str, **params: Any) -> None:
    """Run `query` once per batch of `$rows`; each must report as `written` every row it got."""
    for batch in batches(rows, batch_size):
        written = tx.run(query, rows=batch, **params).single()["written"]
        if written != len(batch):
            raise StoreError(f"{what}: expected to write {len(batch)} but wrote {written}; a referenced item is missing")


def _stored_props(change: ItemChange, key_props: dict[str, Any]) -> dict[str, Any]:
    props = dict(change.after or {})
    for key in [k for k in props if k.startswith("->")]:
        del props[key]
    props.update(change.row["book"])
    props.update(key_props)
    return props


def write_plan(
    tx: ManagedTransaction,
    plan: WritePlan,
    actor: str,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    advance = progress or (lambda n: None)
    # what goes with a deleted CI (its relationships, its place in records' links) is a change
    # like any other: versioned and audited
    plan.changes += _relationships_going_with(tx, plan) + _records_losing_links(tx, plan)
    ci_rows = [
        {
            "id": c.key,
            "props": _stored_props(c, {"id": c.key}),
            "ci_class": c.row["ci_class"],
            "drop_labels": c.row["drop_labels"],
            "owner": c.row["owner"],
        }
        for c in plan.of(Label.CI.value, "create", "update")
    ]
    # Teams first: CIs link to their owner team.
    _write_record_kind(tx, RECORD_SECTIONS["teams"], plan, batch_size, advance)
    run_counted(tx, WRITE_CIS, ci_rows, batch_size, "configuration items")
    advance(len(ci_rows))
    rel_rows = [
        {"source": c.row["source"], "target": c.row["target"], "type": c.row["type"], "props": _stored_props(c, {})}
        for c in plan.of(RELATIONSHIP_KIND, "create", "update")
    ]
    for rel_type in RelType:
        of_type = [row for row in rel_rows if row["type"] == rel_type.value]
        run_counted(tx, WRITE_RELATIONSHIPS[rel_type], of_type, batch_size, "relationships")
    advance(len(rel_rows))
    for section, model in RECORD_SECTIONS.items():
        if section != "teams":
            _write_record_kind(tx, model, plan, batch_size, advance)
    for deleted in plan.of(Label.CI.value, "delete"):
        _delete_ci_now(tx, deleted.key)
    for deleted in plan.of(RELATIONSHIP_KIND, "delete"):
        _delete_relationship_now(tx, deleted.row["source"], deleted.row["type"], deleted.row["target"])
    _write_audit(tx, plan, actor, batch_size)


def _write_record_kind(
    tx: ManagedTransaction, model: type[Record], plan: WritePlan, batch_size: int, advance: Callable[[int], None]
) -> None:
    changes = plan.of(model.label.value, "create", "update")
    if not changes:
        return
    rows = [{"id": c.key, "props": _stored_props(c, {"id": c.key})} for c in changes]
    edge_types = [rel.value for rel, _ in model.edges.values()]
    run_counted(tx, _write_records_query(model), rows, batch_size, model.label.value, edge_types=edge_types)
    for key, (rel, target) in model.edges.items():
        edge_rows = [{"source": c.key, "target": t} for c in changes for t in c.row["edges"].get(key, [])]
        for batch in batches(edge_rows, batch_size):
            written = tx.run(_write_record_edges_query(model, rel, target), rows=batch).single()["written"]
            if written != len(batch):
                raise StoreError(f"{model.label.value}.{key}: a referenced {target.value} does not exist")
    advance(len(rows))


def _write_audit(tx: ManagedTransaction, plan: WritePlan, actor: str, batch_size: int) -> None:
    now = _now()
    entries = []
    for change in plan.changes:
        if change.action == "unchanged":
            continue
        version = change.row.get("book", {}).get("version") or change.row.get("version")
        entries.append(
            {
                "id": str(uuid.uuid4()),
                "at": now,
                "actor": actor,
                "action": change.action,
                "entity_kind": change.kind,
                "entity_id": change.key,
                "version": version,
                "source": change.row.get("book", {}).get("source"),  # who said so: as-of confidence reads it
                "changed": change.changed,
                "before": _json(change.before),
                "after": _json(change.after),
            }
        )
    for batch in batches(entries, batch_size):
        tx.run(WRITE_AUDIT, entries=batch).consume()


DELETE_CI = "MATCH (n:CI {id: $id}) DETACH DELETE n"


def _delete_ci_now(tx: ManagedTransaction, ci_id: str) -> None:
    tx.run(DELETE_CI, id=ci_id).consume()


# A deleted CI's relationships (either way, to other CIs) go with it.
RELATIONSHIPS_OF_CIS = """
UNWIND $ids AS id
MATCH (n:CI {id: id})-[r]-(:CI)
RETURN startNode(r).id AS source, type(r) AS type, endNode(r).id AS target, properties(r) AS props
"""


def _relationships_going_with(tx: ManagedTransaction, plan: WritePlan) -> list[ItemChange]:
    """Delete changes for the relationships of the CIs the plan deletes that it does not
    delete itself, so that each leaves its own audit entry."""
    ids = [c.key for c in plan.of(Label.CI.value, "delete")]
    if not ids:
        return []
    planned = {c.key for c in plan.of(RELATIONSHIP_KIND, "delete")}
    going: dict[str, ItemChange] = {}
    for record in tx.run(RELATIONSHIPS_OF_CIS, ids=ids):
        key = relationship_key(record["source"], record["type"], record["target"])
        if key in planned or key in going:
            continue
        props = dict(record["props"])
        before = _content(props)
        going[key] = ItemChange(RELATIONSHIP_KIND, key, "delete", before, None, sorted(before),
                                row={"version": int(props.get("version") or 0) + 1, "source": record["source"],
                                     "type": record["type"], "target": record["target"]})
    return list(going.values())


RECORDS_LINKED_TO_CIS = """
UNWIND $ids AS id
MATCH (:CI {id: id})<-[]-(record)
WHERE NOT record:CI
RETURN DISTINCT labels(record) AS labels, record.id AS id
"""


def _records_losing_links(tx: ManagedTransaction, plan: WritePlan) -> list[ItemChange]:
    """Update changes for the records that link to the CIs the plan deletes: each loses
    those links, with a new version and an audit entry."""
    deleted = {c.key for c in plan.of(Label.CI.value, "delete")}
    if not deleted:
        return []
    planned = {(c.kind, c.key) for c in plan.changes}
    linking: dict[str, list[str]] = defaultdict(list)
    for record in tx.run(RECORDS_LINKED_TO_CIS, ids=sorted(deleted)):
        for label in record["labels"]:
            if (label, record["id"]) not in planned:
                linking[label].append(record["id"])
    now = _now()
    changes = []
    for model in RECORD_SECTIONS.values():
        ids = linking.get(model.label.value)
        if not ids:
            continue
        for record_id, stored in _existing_records(tx, model, ids).items():
            after = _content(stored)
            edges: dict[str, list[str]] = {}
            for key, (_rel, target) in model.edges.items():
                targets = stored.get(f"->{key}", [])
                edges[key] = [t for t in targets if t not in deleted] if target is Label.CI else list(targets)
                after.pop(f"->{key}", None)
                if edges[key]:
                    after[f"->{key}"] = edges[key]
            change = _plan_item(model.label.value, record_id, after, stored, now, stored.get("source") or "api")
            change.row.update(edges=edges)
            changes.append(change)
    return changes


DELETE_RELATIONSHIP = """
MATCH (a:CI {id: $source})-[r]->(b)
WHERE b.id = $target AND type(r) = $type
DELETE r
"""


def _delete_relationship_now(tx: ManagedTransaction, source: str, rel_type: str, target: str) -> None:
    tx.run(DELETE_RELATIONSHIP, source=source, type=rel_type, target=target).consume()


# --- the store -----------------------------------------------------------------------------


class StoredCI(BaseModel):
    """A CI as stored, with its bookkeeping."""

    ci: CI
    layer: str
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    source: str | None = None


class AuditEntry(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    version: int | None = None
    changed: list[str] = []
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def stored_ci_from_props(props: dict[str, Any]) -> StoredCI:
    data = {k: _plain(v) for k, v in props.items() if k not in BOOKKEEPING and k != "layer"}
    data["class"] = data.pop("ci_class")
    for key in ("attributes", "external_ids"):
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    return StoredCI(
        ci=CI.model_validate(data),
        layer=props.get("layer", ""),
        version=int(props.get("version") or 0),
        created_at=_plain(props.get("created_at")),
        updated_at=_plain(props.get("updated_at")),
        source=props.get("source"),
    )


def record_from_props(model: type[Record], stored: dict[str, Any]) -> Record:
    """Rebuild a record from its stored properties and its `->key` link lists."""
    data: dict[str, Any] = {k: _plain(v) for k, v in stored.items() if k not in BOOKKEEPING and not k.startswith("->")}
    for key in model.edges:
        targets = stored.get(f"->{key}", [])
        annotation = model.model_fields[key].annotation
        data[key] = targets if "list" in str(annotation) else (targets[0] if targets else None)
    return model.model_validate(data)


GET_CI = "MATCH (n:CI {id: $id}) RETURN properties(n) AS props"

LOCK_CI = """
MATCH (n:CI {id: $id})
SET n._lock = true
REMOVE n._lock
RETURN properties(n) AS props,
       COUNT { (n)<-[]-(:CI) } AS dependents
"""

LOCK_RELATIONSHIP = """
MATCH (a:CI {id: $source})-[r]->(b)
WHERE b.id = $target AND type(r) = $type
SET r._lock = true
REMOVE r._lock
RETURN properties(r) AS props
"""

HISTORY = """
MATCH (e:AuditEntry {entity_id: $id})
RETURN properties(e) AS e
ORDER BY e.at DESC, e.version DESC
LIMIT $limit
"""

CI_CLASSES = "UNWIND $ids AS id MATCH (n:CI {id: id}) RETURN n.id AS id, n.ci_class AS ci_class"
EXISTING_IDS_QUERIES = {
    label: f"UNWIND $ids AS id MATCH (n:{label.value} {{id: id}}) RETURN n.id AS id" for label in Label
}
ALL_RECORD_IDS = {label: f"MATCH (n:{label.value}) RETURN n.id AS id ORDER BY id" for label in Label}
COUNT_LABEL_QUERIES = {label: f"MATCH (n:{label.value}) RETURN count(n) AS n" for label in Label}
COUNT_RELATIONSHIPS = "MATCH (:CI)-[r]->(:CI) RETURN count(r) AS n"


CONTENDED_MESSAGE = "the write collided with concurrent writes until its time ran out and was not applied; try again"
MIN_ATTEMPT_SECONDS = 0.5  # an attempt with less time than this left would only time out


def _retry_delays() -> Iterator[float]:
    """Exponential back-off with jitter, as the driver does, so colliding writers spread out."""
    delay = 0.1
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * 2, 2.0)


def _lock_wait_ended(error: Exception) -> bool:
    """Neo4j stopped the transaction at its timeout, which for a small write means it was
    waiting on another writer's locks."""
    return isinstance(error, ClientError) and (error.code or "").startswith(
        ("Neo.ClientError.Transaction.TransactionTimedOut", "Neo.ClientError.Transaction.LockClientStopped"))


class Store:
    def __init__(self, driver: Driver, database: str = "neo4j", batch_size: int = 2000,
                 tx_timeout: float | None = None, write_budget: float | None = None,
                 unavailable_retry: float = 5.0) -> None:
        """`tx_timeout` bounds every transaction that does not set its own (the service's
        requests); None leaves the server's default. `write_budget` bounds a write's whole
        time, retries included, so a client waiting on the service gets an answer (CONFLICT)
        before it gives up; None leaves retries to the driver. A lost Neo4j is retried for
        `unavailable_retry` of that budget only: waiting longer would not bring it back."""
        self.driver = driver
        self.database = database
        self.batch_size = batch_size
        self.tx_timeout = tx_timeout
        self.write_budget = write_budget
        self.unavailable_retry = unavailable_retry

    def _bounded(self, work: Callable[[ManagedTransaction], Any]) -> Callable[[ManagedTransaction], Any]:
        if self.tx_timeout is None or hasattr(work, "timeout"):
            return work
        return unit_of_work(timeout=self.tx_timeout)(work)

    # reads run in read transactions, so a cluster serves them from its secondaries
    def _read(self, work: Callable[[ManagedTransaction], Any]) -> Any:
        with self.driver.session(database=self.database) as session:
            return session.execute_read(self._bounded(work))

    def _write(self, work: Callable[[ManagedTransaction], Any]) -> Any:
        if self.write_budget is not None:
            return self._write_within_budget(work, self.write_budget)
        with self.driver.session(database=self.database) as session:
            return session.execute_write(self._bounded(work))

    def _write_within_budget(self, work: Callable[[ManagedTransaction], Any], budget: float) -> Any:
        """The driver's own retry loop fixes each attempt's timeout before the first one and
        starts its retry clock after it, so a write could take the timeout plus the retry
        time and outlast its client. Here every attempt gets only what is left of `budget`."""
        started = time.monotonic()
        deadline = started + budget
        own_timeout = getattr(work, "timeout", None) or self.tx_timeout
        delays = _retry_delays()
        while True:
            remaining = deadline - time.monotonic()
            attempt_timeout = remaining if own_timeout is None else min(own_timeout, remaining)
            budget_binds = own_timeout is None or remaining < own_timeout
            try:
                with self.driver.session(database=self.database) as session:
                    # an explicit transaction: one attempt, its timeout set now
                    with session.begin_transaction(timeout=max(attempt_timeout, 0.001)) as tx:
                        result = work(tx)
                        tx.commit()
                        return result
            except (DriverError, Neo4jError) as error:
                if _lock_wait_ended(error) and budget_binds:
                    raise WriteContended(CONTENDED_MESSAGE) from error
                if not error.is_retryable():
                    raise
                if not isinstance(error, TransientError) and time.monotonic() - started > self.unavailable_retry:
                    raise
                delay = next(delays)
                if time.monotonic() + delay >= deadline - MIN_ATTEMPT_SECONDS:
                    if isinstance(error, TransientError):
                        raise WriteContended(CONTENDED_MESSAGE) from error
                    raise
                time.sleep(delay)

    def in_transaction(self, work: Callable[[ManagedTransaction], Any], *, write: bool,
                       timeout: float | None = None) -> Any:
        """Run `work` in one managed transaction: all of it commits, or none (a long
        import's steps share one). It may run again after a transient error. `timeout`
        replaces the server's default transaction timeout (Neo4j 5.3 and later)."""
        if timeout is not None:
            work = unit_of_work(timeout=timeout)(work)
        return (self._write if write else self._read)(work)

    def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """The rows of a read query, as plain dicts (the analyses' one way to read)."""
        return self._read(lambda tx: [record.data() for record in tx.run(query, params)])

    def value(self, query: str, **params: Any) -> Any:
        """The first column of a read query's single row, as the driver decoded it: no
        `record.data()` pass, which walks every nested value again and costs as much as the
        query for a region of thousands of CIs."""
        return self._read(lambda tx: tx.run(query, params).single(strict=True)[0])

    def get_ci(self, ci_id: str) -> StoredCI | None:
        def work(tx: ManagedTransaction) -> dict[str, Any] | None:
            record = tx.run(GET_CI, id=ci_id).single()
            return dict(record["props"]) if record else None

        props = self._read(work)
        return stored_ci_from_props(props) if props else None

    def count(self, label: Label) -> int:
        return self._read(lambda tx: tx.run(COUNT_LABEL_QUERIES[Label(label)]).single()["n"])

    def count_relationships(self) -> int:
        return self._read(lambda tx: tx.run(COUNT_RELATIONSHIPS).single()["n"])

    def ci_classes(self, ids: Iterable[str]) -> dict[str, CIClass]:
        """The class of each of `ids` that the database holds."""

        def work(tx: ManagedTransaction) -> dict[str, CIClass]:
            return {r["id"]: CIClass(r["ci_class"]) for r in tx.run(CI_CLASSES, ids=sorted(set(ids)))}

        return self._read(work)

    def existing_ids(self, label: Label, ids: Iterable[str]) -> set[str]:
        query = EXISTING_IDS_QUERIES[Label(label)]
        return self._read(lambda tx: {r["id"] for r in tx.run(query, ids=sorted(set(ids)))})

    def history(self, entity_id: str, limit: int = 100) -> list[AuditEntry]:
        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [dict(r["e"]) for r in tx.run(HISTORY, id=entity_id, limit=limit)]

        entries = []
        for raw in self._read(work):
            raw = {k: _plain(v) for k, v in raw.items()}
            for side in ("before", "after"):
                raw[side] = json.loads(raw[side]) if raw.get(side) else None
            entries.append(AuditEntry.model_validate(raw))
        return entries

    # --- documents (loads) ---------------------------------------------------------------

    def plan(self, tx: ManagedTransaction, document: Any, source: str) -> WritePlan:
        now = _now()
        plan = WritePlan()
        plan.changes += plan_cis(tx, document.cis, now, source)
        plan.changes += plan_relationships(tx, document.relationships, now, source)
        for section, model in RECORD_SECTIONS.items():
            plan.changes += plan_records(tx, model, getattr(document, section), now, source)
        return plan

    def preview(self, document: Any, source: str) -> WritePlan:
        """What a load would do, read-only."""
        return self._read(lambda tx: self.plan(tx, document, source))

    def apply(
        self,
        document: Any,
        source: str,
        actor: str,
        progress: Callable[[int], None] | None = None,
        expected: dict[tuple[str, str], int] | None = None,
        must_be_new: set[tuple[str, str]] | None = None,
        lock_all: bool = False,
    ) -> WritePlan:
        """Write a whole document in one transaction: all of it, or nothing. `expected` maps
        (kind, id) to the version the writer read; those items are locked before they are
        compared, so concurrent writers cannot both pass. `lock_all` (the service's writes,
        which race each other) locks every item the document writes before reading it, and
        the source CI of every relationship: concurrent writers of one item then queue up, each
        planning from what the one before committed, instead of both writing the same next
        version. An id not stored yet is locked through its unique index entry; creators racing
        for it deadlock, and the retried transaction finds the winner's item."""

        def work(tx: ManagedTransaction) -> WritePlan:
            by_label: dict[str, set[str]] = defaultdict(set)
            for kind, key in (expected or {}).keys():
                if kind in Label._value2member_map_:
                    by_label[kind].add(key)
            if lock_all:
                by_label[Label.CI.value].update(ci.id for ci in document.cis)
                by_label[Label.CI.value].update(rel.source for rel in document.relationships)
                for section, model in RECORD_SECTIONS.items():
                    by_label[model.label.value].update(record.id for record in getattr(document, section))
            for kind in sorted(by_label):  # one order for every writer: no lock-order deadlocks
                if by_label[kind]:
                    tx.run(LOCK_NODES[Label(kind)], ids=sorted(by_label[kind])).consume()
            plan = self.plan(tx, document, source)
            check_expectations(plan, expected or {}, must_be_new or set())
            write_plan(tx, plan, actor, self.batch_size, progress)
            return plan

        return self._write(work)

    def records(self, model: type[Record]) -> list[Record]:
        """Every record of one kind, by id (for export)."""
        query = ALL_RECORD_IDS[model.label]

        def work(tx: ManagedTransaction) -> list[Record]:
            ids = [r["id"] for r in tx.run(query)]
            stored = _existing_records(tx, model, ids)
            return [record_from_props(model, stored[i]) for i in ids]

        return self._read(work)

    def records_by_id(self, model: type[Record], ids: Sequence[str]) -> dict[str, Record]:
        """The records of one kind among `ids` that exist, as models, in one read."""
        stored = self._read(lambda tx: _existing_records(tx, model, list(ids)))
        return {record_id: record_from_props(model, props) for record_id, props in stored.items()}

    def get_record(self, model: type[Record], record_id: str) -> tuple[Record, int] | None:
        """One record as its model, with its version."""
        stored = self._read(lambda tx: _existing_records(tx, model, [record_id])).get(record_id)
        if stored is None:
            return None
        return record_from_props(model, stored), int(stored.get("version") or 0)

    # --- single items (mutations) ----------------------------------------------------------

    def _locked_ci(self, tx: ManagedTransaction, ci_id: str, expected_version: int) -> tuple[dict[str, Any], int]:
        record = tx.run(LOCK_CI, id=ci_id).single()
        if record is None:
            raise NotFoundError(f"no CI with id {ci_id!r}")
        props = dict(record["props"])
        if int(props.get("version") or 0) != expected_version:
            raise ConflictError(
                f"CI {ci_id!r} is at version {props.get('version')}, not {expected_version}: "
                "it changed since you read it; read it again and retry",
                current_version=props.get("version"),
            )
        return props, record["dependents"]

    def update_ci(self, ci_id: str, changes: dict[str, Any], expected_version: int, actor: str) -> StoredCI:
        """Apply field changes to one CI if nobody changed it since `expected_version`."""
        if "id" in changes and changes["id"] != ci_id:
            raise StoreError("a CI's id cannot change; create a new CI instead")

        def work(tx: ManagedTransaction) -> None:
            props, _ = self._locked_ci(tx, ci_id, expected_version)
            current = stored_ci_from_props(props)
            data = current.ci.model_dump(by_alias=True)
            data.update(changes)
            try:
                updated = CI.model_validate(data)
            except ValidationError as error:
                raise StoreError(str(error)) from error
            if updated.owner and updated.owner != current.ci.owner:
                if tx.run("MATCH (t:Team {id: $id}) RETURN t", id=updated.owner).single() is None:
                    raise StoreError(f"owner {updated.owner!r} is not a known team")
            plan = WritePlan(plan_cis(tx, [updated], _now(), props.get("source") or "api"))
            write_plan(tx, plan, actor, self.batch_size)

        self._write(work)
        stored = self.get_ci(ci_id)
        assert stored is not None
        return stored

    def delete_ci(self, ci_id: str, expected_version: int, actor: str, force: bool = False) -> None:
        """Delete one CI; one that others depend on needs `force` (their edges go with it)."""

        def work(tx: ManagedTransaction) -> None:
            props, dependents = self._locked_ci(tx, ci_id, expected_version)
            if dependents and not force:
                raise HasDependentsError(
                    f"{dependents} relationship(s) point at CI {ci_id!r}; delete with force to remove it anyway"
                )
            before = _content(props)
            change = ItemChange(Label.CI.value, ci_id, "delete", before, None, sorted(before),
                                row={"version": int(props.get("version") or 0) + 1})
            write_plan(tx, WritePlan([change]), actor, self.batch_size)

        self._write(work)

    def delete_relationship(
        self, source: str, rel_type: RelType, target: str, expected_version: int | None, actor: str
    ) -> None:
        """Delete one relationship; with `expected_version`, only if nobody changed it since."""
        rel_type = RelType(rel_type)
        key = relationship_key(source, rel_type, target)

        def work(tx: ManagedTransaction) -> None:
            record = tx.run(LOCK_RELATIONSHIP, source=source, type=rel_type.value, target=target).single()
            if record is None:
                raise NotFoundError(f"no relationship {source} -{rel_type.value}-> {target}")
            props = dict(record["props"])
            current = int(props.get("version") or 0)
            if expected_version is not None and current != expected_version:
                raise ConflictError(
                    f"relationship {key} is at version {props.get('version')}, not {expected_version}: "
                    "it changed since you read it; read it again and retry",
                    current_version=props.get("version"),
                )
            before = _content(props)
            change = ItemChange(RELATIONSHIP_KIND, key, "delete", before, None, sorted(before),
                                row={"version": current + 1, "source": source,
                                     "type": rel_type.value, "target": target})
            write_plan(tx, WritePlan([change]), actor, self.batch_size)

        self._write(work)
