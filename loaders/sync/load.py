"""Write one source's view into the graph, and clean up after it.

The steps, in order: read the stored identities and identify each item
(`reconcile.identify`); refuse a cleanup larger than allowed, before anything is written;
write teams, then CIs in batches (merged by precedence), then relationships, each stamped with
the run's sync tag; clean up (`cleanup.py`); record the run as a `:SyncRun` node. A run of at
most `commit_rows` rows is one transaction; a larger one commits every `commit_rows` rows
with the cleanup last, so a run that fails part-way never retires anything. With `dry_run`
the same steps run in read transactions and only report.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
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
    batches,
    existing_cis,
    plan_cis,
    plan_records,
    plan_relationships,
    run_counted,
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
    timeout_seconds: float | None = None  # of each transaction; None: the server's default
    commit_rows: int = 5_000  # a run with more rows commits in transactions of this many


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
UNWIND $rows AS id
MATCH (n:CI {id: id})
SET n.sync_tag = $tag, n.last_seen = $now,
    n.reported_by = CASE WHEN $source IN coalesce(n.reported_by, []) THEN n.reported_by
                         ELSE coalesce(n.reported_by, []) + $source END
RETURN count(n) AS written
"""

STAMP_RELATIONSHIPS = """
UNWIND $rows AS row
MATCH (a:CI {id: row.source})-[r]->(b)
WHERE b.id = row.target AND type(r) = row.type
SET r.sync_tag = $tag, r.last_seen = $now,
    r.reported_by = CASE WHEN $source IN coalesce(r.reported_by, []) THEN r.reported_by
                         ELSE coalesce(r.reported_by, []) + $source END
RETURN count(r) AS written
"""

RECORD_RUN = """
CREATE (r:SyncRun)
SET r = $props
"""


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


class _Run:
    """One run's steps. Each step runs inside a transaction it is given and keeps its results
    in its own slot, so that a step retried after a transient error does not count twice."""

    def __init__(self, batch: SourceBatch, options: SyncOptions, tag: str, report: SyncReport,
                 advance: Callable[[int], None]) -> None:
        self.batch, self.options, self.tag, self.report, self.advance = batch, options, tag, report, advance
        self.write = not options.dry_run
        self.now = datetime.now(timezone.utc)
        self.findings: dict[str, list[Finding]] = {}
        self.ci_counts: dict[int, Counter[str]] = {}
        self.rel_counts: dict[int, Counter[str]] = {}
        self.noted: dict[int, list[ItemChange]] = {}
        self.classes: dict[str, CIClass] = {}
        self.relationships: list[Relationship] | None = None

    def steps(self) -> list[tuple[Callable[[ManagedTransaction], None], int]]:
        """Each step with the number of rows it writes, in order."""
        size = self.options.batch_size
        ci_steps = [(functools.partial(self.load_cis, i), len(chunk))
                    for i, chunk in enumerate(batches(self.batch.cis, size))]
        rel_steps = [(functools.partial(self.load_relationships, i), len(chunk))
                     for i, chunk in enumerate(batches(self.batch.relationships, size))]
        return [(self.prepare, 0), (self.load_teams, len(self.batch.teams)), *ci_steps, *rel_steps, (self.finish, 0)]

    def prepare(self, tx: ManagedTransaction) -> None:
        identities = stored_identities(tx)
        self.importers = {**source_importers(tx), self.options.source: self.options.importer}
        self.ident = identify(self.batch.cis, identities, self.options.source, self.options.keys_are_ids)
        self.cleanup = plan_cleanup(identities, set(self.ident.ids.values()), self.options.source)
        _refuse_large_cleanup(self.cleanup, self.options)
        self.reporters = {s.id: s.reported_by for s in identities}
        owners = _known_owners(tx, self.batch)
        owner_findings: list[Finding] = []
        self.items = [_without_unknown_owner(item, owners, owner_findings) if item.key in self.ident.ids else None
                      for item in self.batch.cis]
        self.findings["identify"] = self.ident.findings + owner_findings

    def load_teams(self, tx: ManagedTransaction) -> None:
        teams = plan_records(tx, RECORD_SECTIONS["teams"], self.batch.teams, self.now, self.options.source)
        self.report.teams = dict(Counter(c.action for c in teams))
        if self.write and teams:
            write_plan(tx, WritePlan(teams), self.options.actor, self.options.batch_size)

    def load_cis(self, index: int, tx: ManagedTransaction) -> None:
        size, source = self.options.batch_size, self.options.source
        chunk = [item for item in self.items[index * size : (index + 1) * size] if item is not None]
        ids = [self.ident.ids[item.key] for item in chunk]
        stored = existing_cis(tx, ids)
        merged: list[CI] = []
        for item, ci_id in zip(chunk, ids):
            before = stored_ci_from_props(stored[ci_id]).ci if ci_id in stored else None
            others = [self.importers.get(name, name) for name in self.reporters.get(ci_id, ()) if name != source]
            merged.append(merge(item, ci_id, before, source, self.options.importer, others))
        changes = plan_cis(tx, merged, self.now, source, stored)
        self.ci_counts[index] = Counter(c.action for c in changes)
        self.noted[index] = [c for c in changes if c.action in ("create", "update")][:SHOWN]
        self.classes.update((ci.id, ci.ci_class) for ci in merged)
        if self.write:
            unchanged = _claim(changes, self.tag, source)
            write_plan(tx, WritePlan(changes), self.options.actor, self.options.batch_size)
            run_counted(tx, STAMP_CIS, unchanged, size, "stamping the sync tag", tag=self.tag, now=self.now, source=source)
        self.advance(len(chunk))

    def load_relationships(self, index: int, tx: ManagedTransaction) -> None:
        if self.relationships is None:  # once every CI is written, and its class known
            rel_findings: list[Finding] = []
            self.relationships = _relationships(self.batch, self.ident, self.classes, rel_findings)
            self.findings["relationships"] = rel_findings
        size, source = self.options.batch_size, self.options.source
        chunk = self.relationships[index * size : (index + 1) * size]
        changes = plan_relationships(tx, chunk, self.now, source) if chunk else []
        self.rel_counts[index] = Counter(c.action for c in changes)
        if self.write and changes:
            unchanged = set(_claim(changes, self.tag, source))
            write_plan(tx, WritePlan(changes), self.options.actor, size)
            rows = [{"source": c.row["source"], "type": c.row["type"], "target": c.row["target"]}
                    for c in changes if c.key in unchanged]
            run_counted(tx, STAMP_RELATIONSHIPS, rows, size, "stamping the sync tag", tag=self.tag, now=self.now,
                        source=source)
        self.advance(len(self.batch.relationships[index * size : (index + 1) * size]))

    def finish(self, tx: ManagedTransaction) -> None:
        """Cleanup, only now that everything the source reported is written; then the record."""
        reported = {(r.source, r.type.value, r.target) for r in self.relationships or []}
        outcome = apply_cleanup(tx, self.cleanup, reported, self.options, self.now, self.write)
        report = self.report
        ci_counts = sum(self.ci_counts.values(), Counter()) + Counter(retired=len(outcome.retired),
                                                                         deleted=len(outcome.deleted))
        rel_counts = sum(self.rel_counts.values(), Counter()) + Counter(removed=len(outcome.relationships_removed))
        report.cis = {action: n for action, n in ci_counts.items() if n}
        report.relationships = {action: n for action, n in rel_counts.items() if n}
        noted = [change for index in sorted(self.noted) for change in self.noted[index]]
        report.created = [c.key for c in noted if c.action == "create"][:SHOWN]
        report.updated = [Change(id=c.key, fields=c.changed) for c in noted if c.action == "update"][:SHOWN]
        report.retired = outcome.retired[:SHOWN]
        report.deleted = outcome.deleted[:SHOWN]
        report.no_longer_reported = outcome.no_longer_reported[:SHOWN]
        report.relationships_removed = outcome.relationships_removed[:SHOWN]
        if self.write:
            tx.run(RECORD_RUN, props=_run_properties(report, self.tag, self.now, self.options,
                                                     len(self.all_findings()))).consume()

    def all_findings(self) -> list[Finding]:
        return [*self.batch.findings, *self.findings.get("identify", []), *self.findings.get("relationships", [])]


def _transactions(steps: list[tuple[Callable[[ManagedTransaction], None], int]], commit_rows: int | None
                  ) -> list[list[Callable[[ManagedTransaction], None]]]:
    """Consecutive steps grouped into transactions of at most `commit_rows` written rows
    (a step is never split); without a limit, one transaction for everything."""
    groups: list[list[Callable[[ManagedTransaction], None]]] = [[]]
    rows = 0
    for step, size in steps:
        if commit_rows is not None and groups[-1] and rows + size > commit_rows:
            groups.append([])
            rows = 0
        groups[-1].append(step)
        rows += size
    return groups


def sync_batch(
    store: Store, batch: SourceBatch, options: SyncOptions, path: str,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Load `batch` (which must have no errors) as the source `options.source`: in one
    transaction when it has at most `options.commit_rows` rows, else in transactions of that
    many rows, the cleanup in the last one (a run that fails part-way retires nothing)."""
    if batch.errors:
        raise ValueError("a batch with errors is never loaded")
    started = time.perf_counter()
    tag = f"{options.source}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = SyncReport(source=options.source, importer=options.importer, path=path, sync_tag=tag,
                        dry_run=options.dry_run, rows=len(batch.cis) + len(batch.relationships))
    run = _Run(batch, options, tag, report, progress or (lambda n: None))
    steps = run.steps()
    commit_rows = None if report.rows <= options.commit_rows else options.commit_rows
    for group in _transactions(steps, commit_rows):
        store.in_transaction(lambda tx, group=group: [step(tx) for step in group], write=not options.dry_run,
                             timeout=options.timeout_seconds)
    findings = run.all_findings()
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


