"""Write one source's view into the graph, and clean up after it, in one transaction.

The steps run in order inside that transaction: read the stored identities; identify each
item (`reconcile.identify`); refuse a cleanup larger than allowed, before anything is written;
write teams, then CIs in batches (merged by precedence), then relationships; stamp the run's
sync tag on everything the source reported; then clean up (`cleanup.py`); then record the run
as a `:SyncRun` node. An error anywhere rolls all of it back, so a failed run never retires
anything. With `dry_run` the same steps run in a read transaction and only report.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from neo4j import ManagedTransaction
from pydantic import BaseModel

from cmdb_graph.model import CI, RECORD_SECTIONS, CIClass, Relationship, RelType
from cmdb_graph.store import (
    ItemChange,
    Store,
    StoreError,
    WritePlan,
    existing_cis,
    plan_cis,
    plan_records,
    plan_relationships,
    stored_ci_from_props,
    write_plan,
)
from loaders.sync.cleanup import CleanupPlan, apply_cleanup, plan_cleanup
from loaders.sync.model import DANGLING, SKIPPED, Finding, SourceBatch, SourceCI
from loaders.sync.reconcile import Identification, StoredIdentity, identify, merge

SHOWN = 200  # ids listed per kind of change in a report; the counts are always complete


class CleanupRefused(StoreError):
    """The run would retire more of the source's CIs than allowed; nothing was written."""


class Change(BaseModel):
    id: str
    fields: list[str] = []


class SyncReport(BaseModel):
    source: str
    importer: str
    path: str
    sync_tag: str
    dry_run: bool
    ok: bool = True
    errors: list[str] = []
    findings: list[str] = []
    findings_by_kind: dict[str, int] = {}
    rows: int = 0
    cis: dict[str, int] = {}
    relationships: dict[str, int] = {}
    teams: dict[str, int] = {}
    created: list[str] = []
    updated: list[Change] = []
    retired: list[str] = []
    deleted: list[str] = []
    no_longer_reported: list[str] = []  # still reported by another source, so not retired
    relationships_removed: list[str] = []
    seconds: float = 0.0
    rows_per_second: float = 0.0


@dataclass(frozen=True)
class SyncOptions:
    source: str
    importer: str
    keys_are_ids: bool = False
    actor: str = "cli"
    dry_run: bool = False
    delete_stale: bool = False
    allow_large_cleanup: bool = False
    max_cleanup_share: float = 0.2
    batch_size: int = 2000
    timeout_seconds: float | None = None  # of the run's one transaction; None: the server's default


# --- reads -----------------------------------------------------------------------------------

STORED_IDENTITIES = """
MATCH (n:CI)
RETURN n.id AS id, n.ci_class AS ci_class, n.name AS name, n.serial_number AS serial_number,
       n.fqdn AS fqdn, n.ip_addresses AS ip_addresses, n.external_ids AS external_ids,
       n.reported_by AS reported_by
"""


def stored_identities(tx: ManagedTransaction) -> list[StoredIdentity]:
    return [
        StoredIdentity(
            id=row["id"], ci_class=CIClass(row["ci_class"]), name=row["name"] or "",
            serial_number=row["serial_number"], fqdn=row["fqdn"], ip_addresses=tuple(row["ip_addresses"] or ()),
            external_ids=json.loads(row["external_ids"]) if row["external_ids"] else {},
            reported_by=tuple(row["reported_by"] or ()),
        )
        for row in tx.run(STORED_IDENTITIES)
    ]


SOURCE_IMPORTERS = """
MATCH (r:SyncRun)
RETURN DISTINCT r.source AS source, r.importer AS importer
"""


def source_importers(tx: ManagedTransaction) -> dict[str, str]:
    """Which importer each source name was loaded with, for the precedence rules."""
    return {row["source"]: row["importer"] for row in tx.run(SOURCE_IMPORTERS)}


EXISTING_TEAMS = "UNWIND $ids AS id MATCH (t:Team {id: id}) RETURN t.id AS id"


# --- writes that only the sync does ------------------------------------------------------

STAMP_CIS = """
UNWIND $ids AS id
MATCH (n:CI {id: id})
SET n.sync_tag = $tag, n.last_seen = $now,
    n.reported_by = CASE WHEN $source IN coalesce(n.reported_by, []) THEN n.reported_by
                         ELSE coalesce(n.reported_by, []) + $source END
RETURN count(n) AS written
"""

STAMP_RELATIONSHIPS = """
UNWIND $rows AS row
MATCH (a:CI {id: row.source})-[r]->(b:CI {id: row.target})
USING INDEX a:CI(id)
USING INDEX b:CI(id)
WHERE type(r) = row.type
SET r.sync_tag = $tag,
    r.reported_by = CASE WHEN $source IN coalesce(r.reported_by, []) THEN r.reported_by
                         ELSE coalesce(r.reported_by, []) + $source END
RETURN count(r) AS written
"""

RECORD_RUN = """
CREATE (r:SyncRun)
SET r = $props
"""


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stamp(tx: ManagedTransaction, query: str, key: str, rows: list[Any], size: int, **params: Any) -> None:
    for chunk in _batches(rows, size):
        written = tx.run(query, {key: chunk, **params}).single()["written"]
        if written != len(chunk):
            raise StoreError(f"stamping the sync tag: expected {len(chunk)} items, found {written}")


# --- the steps -----------------------------------------------------------------------------


def _known_owners(tx: ManagedTransaction, batch: SourceBatch) -> set[str]:
    wanted = sorted({item.ci.owner for item in batch.cis if item.ci.owner} - {t.id for t in batch.teams})
    stored = {row["id"] for row in tx.run(EXISTING_TEAMS, ids=wanted)} if wanted else set()
    return stored | {t.id for t in batch.teams}


def _without_unknown_owner(item: SourceCI, owners: set[str], findings: list[Finding]) -> SourceCI:
    if item.ci.owner is None or item.ci.owner in owners:
        return item
    findings.append(Finding(item.location, DANGLING, f"owner team {item.ci.owner!r} is not known; owner left unset"))
    ci = item.ci.model_copy(update={"owner": None})
    ci.model_fields_set.discard("owner")
    return SourceCI(item.key, ci, item.location)


def _relationships(
    batch: SourceBatch, ident: Identification, classes: dict[str, CIClass], findings: list[Finding]
) -> list[Relationship]:
    """The source's relationships between stored ids, once each; hard wins over soft."""
    wanted: dict[tuple[str, str, str], Relationship] = {}
    for rel in batch.relationships:
        missing = [key for key in (rel.source_key, rel.target_key) if key not in ident.ids]
        if missing:
            held = [key for key in missing if key in ident.held_back]
            kind, why = (SKIPPED, "is held back (ambiguous)") if held else (DANGLING, "is not in this source")
            findings.append(Finding(rel.location, kind,
                                    f"{rel.source_key} -{rel.type.value}-> {rel.target_key}: {missing[0]!r} {why}"))
            continue
        source, target = ident.ids[rel.source_key], ident.ids[rel.target_key]
        rel_type = rel.type
        if rel_type is RelType.HAS_MEMBER and not classes[source].is_group:
            findings.append(Finding(rel.location, SKIPPED, (
                f"{rel.source_key} is a {classes[source].value}, and only a Cluster or RedundancyGroup has "
                "members: loaded as DEPENDS_ON")))
            rel_type = RelType.DEPENDS_ON
        if source == target:
            continue
        candidate = Relationship.model_validate(
            {"from": source, "to": target, "type": rel_type, "strength": rel.strength})
        previous = wanted.get(candidate.key)
        if previous is None or previous.strength.value == "soft":
            wanted[candidate.key] = candidate
    return list(wanted.values())


def _claim(changes: list[ItemChange], tag: str, source: str) -> list[str]:
    """Put the run's stamps into what is written anyway; return the keys of the unchanged
    items, which only need the stamps."""
    unchanged = []
    for change in changes:
        if change.action == "unchanged":
            unchanged.append(change.key)
            continue
        book = change.row["book"]
        book["sync_tag"] = tag
        book["reported_by"] = sorted(set(book.get("reported_by") or ()) | {source})
    return unchanged


def _count(changes: list[ItemChange], counts: Counter[str]) -> None:
    for change in changes:
        counts[change.action] += 1


def sync_batch(
    store: Store, batch: SourceBatch, options: SyncOptions, path: str,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Load `batch` (which must have no errors) as the source `options.source`."""
    if batch.errors:
        raise ValueError("a batch with errors is never loaded")
    started = time.perf_counter()
    advance = progress or (lambda n: None)
    tag = f"{options.source}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = SyncReport(source=options.source, importer=options.importer, path=path, sync_tag=tag,
                        dry_run=options.dry_run, rows=len(batch.cis) + len(batch.relationships))
    findings = list(batch.findings)
    write = not options.dry_run

    def work(tx: ManagedTransaction) -> None:
        # A managed transaction may run again after a transient error: start from scratch.
        findings[:] = batch.findings
        report.created, report.updated = [], []
        now = datetime.now(timezone.utc)
        identities = stored_identities(tx)
        importers = source_importers(tx)
        importers[options.source] = options.importer
        ident = identify(batch.cis, identities, options.source, options.keys_are_ids)
        findings.extend(ident.findings)
        cleanup = plan_cleanup(identities, set(ident.ids.values()), options.source)
        _refuse_large_cleanup(cleanup, options)

        teams = plan_records(tx, RECORD_SECTIONS["teams"], batch.teams, now, options.source)
        report.teams = dict(Counter(c.action for c in teams))
        if write and teams:
            write_plan(tx, WritePlan(teams), options.actor, options.batch_size)

        owners = _known_owners(tx, batch)
        reporters = {s.id: s.reported_by for s in identities}
        ci_counts: Counter[str] = Counter()
        classes: dict[str, CIClass] = {}
        items = [_without_unknown_owner(item, owners, findings) for item in batch.cis if item.key in ident.ids]
        for chunk in _batches(items, options.batch_size):
            ids = [ident.ids[item.key] for item in chunk]
            stored = existing_cis(tx, ids)
            merged: list[CI] = []
            for item, ci_id in zip(chunk, ids):
                before = stored_ci_from_props(stored[ci_id]).ci if ci_id in stored else None
                others = [importers.get(name, name) for name in reporters.get(ci_id, ()) if name != options.source]
                merged.append(merge(item, ci_id, before, options.source, options.importer, others))
            changes = plan_cis(tx, merged, now, options.source, stored)
            _count(changes, ci_counts)
            _note_changes(report, changes)
            classes.update((ci.id, ci.ci_class) for ci in merged)
            if write:
                unchanged = _claim(changes, tag, options.source)
                write_plan(tx, WritePlan(changes), options.actor, options.batch_size)
                _stamp(tx, STAMP_CIS, "ids", unchanged, options.batch_size, tag=tag, now=now, source=options.source)
            advance(len(chunk))

        relationships = _relationships(batch, ident, classes, findings)
        rel_counts: Counter[str] = Counter()
        for chunk in _batches(relationships, options.batch_size):
            changes = plan_relationships(tx, chunk, now, options.source)
            _count(changes, rel_counts)
            if write:
                unchanged = set(_claim(changes, tag, options.source))
                write_plan(tx, WritePlan(changes), options.actor, options.batch_size)
                rows = [{"source": c.row["source"], "type": c.row["type"], "target": c.row["target"]}
                        for c in changes if c.key in unchanged]
                _stamp(tx, STAMP_RELATIONSHIPS, "rows", rows, options.batch_size, tag=tag, source=options.source)
        advance(len(batch.relationships))

        reported_relationships = {(r.source, r.type.value, r.target) for r in relationships}
        outcome = apply_cleanup(tx, cleanup, reported_relationships, options, now, write)
        ci_counts.update(retired=len(outcome.retired), deleted=len(outcome.deleted))
        rel_counts.update(removed=len(outcome.relationships_removed))
        report.retired = outcome.retired[:SHOWN]
        report.deleted = outcome.deleted[:SHOWN]
        report.no_longer_reported = outcome.no_longer_reported[:SHOWN]
        report.relationships_removed = outcome.relationships_removed[:SHOWN]
        report.cis = {action: n for action, n in ci_counts.items() if n}
        report.relationships = {action: n for action, n in rel_counts.items() if n}
        if write:
            tx.run(RECORD_RUN, props=_run_properties(report, tag, now, options, len(findings))).consume()

    store.in_transaction(work, write=not options.dry_run, timeout=options.timeout_seconds)
    report.findings = [str(f) for f in findings[:SHOWN]]
    report.findings_by_kind = dict(Counter(f.kind for f in findings))
    report.seconds = round(time.perf_counter() - started, 3)
    report.rows_per_second = round(report.rows / report.seconds, 1) if report.seconds else 0.0
    return report


def _refuse_large_cleanup(cleanup: CleanupPlan, options: SyncOptions) -> None:
    share = cleanup.share()
    if share > options.max_cleanup_share and not options.allow_large_cleanup:
        raise CleanupRefused(
            f"this run would stop reporting {len(cleanup.stale)} of the {cleanup.previously} CIs that "
            f"{options.source!r} reported before ({share:.0%}, more than the {options.max_cleanup_share:.0%} allowed); "
            "nothing was written. If the source really lost them, run again with --allow-large-cleanup."
        )


def _note_changes(report: SyncReport, changes: list[ItemChange]) -> None:
    for change in changes:
        if change.action == "create" and len(report.created) < SHOWN:
            report.created.append(change.key)
        elif change.action == "update" and len(report.updated) < SHOWN:
            report.updated.append(Change(id=change.key, fields=change.changed))


def _run_properties(report: SyncReport, tag: str, now: datetime, options: SyncOptions, findings: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": tag, "source": options.source, "importer": options.importer, "path": report.path,
        "actor": options.actor, "started_at": now, "finished_at": datetime.now(timezone.utc),
        "rows": report.rows,
    }
    for prefix, counts in (("cis", report.cis), ("relationships", report.relationships)):
        for action, n in counts.items():
            props[f"{prefix}_{action}"] = n
    props["findings"] = findings
    return props


