"""Record what a trace export observed, in one transaction: every call as an `ObservedCall`
(kind, caller and callee by telemetry names, so a CI added later still matches it), each
export request as a `TraceImport` keyed by its sha256 (importing it again, or a file it was
appended to, counts nothing twice), `observed_at`/`observed_calls` on each declared DEPENDS_ON
a call confirms, `traced_at` on each instrumented CI; and, when asked, the calls not declared
as relationships with source `traces`."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone

from neo4j import ManagedTransaction
from neo4j.exceptions import ConstraintError
from pydantic import BaseModel

from cmdb_graph.model import Strength
from cmdb_graph.store import Store, write_plan
from loaders.sync.load import stored_identities
from loaders.traces.get import TraceFile, TraceRequest
from loaders.traces.transform import ObservedCall, Resolution, TraceSummary, resolve_names, transform

SOURCE = "traces"
MAX_ERRORS = 200


class ResolvedCall(ObservedCall):
    caller_ci: str | None
    callee_ci: str | None
    declared: bool  # the CMDB holds a DEPENDS_ON from the caller's CI to the callee's, or to a group of it
    declared_via: list[str] = []  # those groups, when the caller declares the group and not the member called
    recorded: bool = False  # written by this import as a relationship with source `traces`


class TraceImportReport(BaseModel):
    ok: bool
    dry_run: bool
    files: list[str]
    already_imported: list[str]  # files whose every request was imported before: skipped
    requests: int = 0  # export requests read
    requests_skipped: int = 0  # of those, imported before or met earlier in this import
    traces: int = 0
    spans: int = 0
    unattributed: int = 0
    orphans: int = 0
    calls: list[ResolvedCall] = []
    services: dict[str, str | None] = {}  # each instrumented service's CI
    unresolved: dict[str, str] = {}  # each name no single CI answers to, and why
    confirmed: int = 0  # declared relationships a call confirmed
    recorded: int = 0  # relationships written for undeclared calls
    errors: list[str] = []  # the first MAX_ERRORS
    error_count: int = 0
    seconds: float = 0.0


MEANWHILE = "another import of these requests committed first; run it again to see nothing left to import"


class ImportedMeanwhile(RuntimeError):
    """Another import of the same requests committed first."""


IMPORTED = "UNWIND $hashes AS hash MATCH (t:TraceImport {id: hash}) RETURN t.id AS id"


def imported_hashes(tx: ManagedTransaction, hashes: list[str]) -> set[str]:
    return {r["id"] for r in tx.run(IMPORTED, hashes=hashes)}


DECLARED = """
UNWIND $pairs AS pair
MATCH (:CI {id: pair[0]})-[:DEPENDS_ON]->(d:CI)
WHERE d.id = pair[1] OR (d)-[:HAS_MEMBER]->(:CI {id: pair[1]})
RETURN pair[0] AS caller, pair[1] AS callee, collect(d.id) AS declared
"""


def declared_pairs(tx: ManagedTransaction, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Each called pair's declared relationship targets: the callee itself where the caller
    declares it, else each group of the callee the caller declares (traces name the member
    that answered, the CMDB the group)."""
    found = {}
    for r in tx.run(DECLARED, pairs=[list(p) for p in pairs]):
        targets = sorted(r["declared"])
        found[(r["caller"], r["callee"])] = [r["callee"]] if r["callee"] in targets else targets
    return found


MERGE_CALLS = """
UNWIND $rows AS row
MERGE (o:ObservedCall {id: row.id})
  ON CREATE SET o.kind = row.kind, o.caller = row.caller, o.callee = row.callee, o.calls = 0, o.errors = 0,
                o.first_seen = row.first_seen, o.last_seen = row.last_seen
SET o.calls = o.calls + row.calls, o.errors = o.errors + row.errors,
    o.first_seen = CASE WHEN row.first_seen < o.first_seen THEN row.first_seen ELSE o.first_seen END,
    o.last_seen = CASE WHEN row.last_seen > o.last_seen THEN row.last_seen ELSE o.last_seen END
"""

STAMP_DECLARED = """
UNWIND $rows AS row
MATCH (:CI {id: row.caller})-[r:DEPENDS_ON]->(:CI {id: row.callee})
SET r.observed_calls = coalesce(r.observed_calls, 0) + row.calls,
    r.observed_at = CASE WHEN r.observed_at IS NULL OR row.last_seen > r.observed_at
                         THEN row.last_seen ELSE r.observed_at END
RETURN count(r) AS stamped
"""

STAMP_TRACED = """
UNWIND $rows AS row
MATCH (c:CI {id: row.id})
SET c.traced_at = CASE WHEN c.traced_at IS NULL OR row.at > c.traced_at THEN row.at ELSE c.traced_at END
"""

RECORD_IMPORTS = """
UNWIND $rows AS row
CREATE (:TraceImport {id: row.id, file: row.file, line: row.line, imported_at: $now, actor: $actor})
"""


def resolve_calls(summary: TraceSummary, names: dict[str, Resolution]) -> list[ResolvedCall]:
    return [ResolvedCall(**call.model_dump(), caller_ci=names[call.caller].ci, callee_ci=names[call.callee].ci,
                         declared=False) for call in summary.calls]


def import_traces(
    store: Store, files: list[TraceFile], *, actor: str, record_relationships: bool = False,
    strength: Strength = Strength.SOFT, dry_run: bool = False,
) -> TraceImportReport:
    started = time.monotonic()
    names = [f.file for f in files]
    first: dict[str, TraceRequest] = {}
    for request in (r for f in files for r in f.requests):
        first.setdefault(request.sha256, request)
    before = store.in_transaction(lambda tx: imported_hashes(tx, list(first)), write=False)
    fresh = {id(r) for r in first.values() if r.sha256 not in before}  # by identity: a repeat is equal, not fresh
    new = [replace(f, requests=[r for r in f.requests if id(r) in fresh]) for f in files]
    new = [f for f in new if f.requests]
    new_requests = [r for f in new for r in f.requests]
    new_files = {f.file for f in new}
    skipped = [f.file for f in files if f.file not in new_files]
    read_requests = sum(len(f.requests) for f in files)
    counts = {"requests": read_requests, "requests_skipped": read_requests - len(new_requests)}
    summary = transform(new)
    if summary.errors:
        return TraceImportReport(ok=False, dry_run=dry_run, files=names, already_imported=skipped, **counts,
                                 errors=[str(e) for e in summary.errors[:MAX_ERRORS]], error_count=len(summary.errors),
                                 seconds=round(time.monotonic() - started, 3))

    if not new:  # nothing left to import: no names to resolve, no transaction to open
        return TraceImportReport(ok=True, dry_run=dry_run, files=names, already_imported=skipped, **counts,
                                 seconds=round(time.monotonic() - started, 3))

    def work(tx: ManagedTransaction) -> TraceImportReport:
        if imported_hashes(tx, [r.sha256 for r in new_requests]):
            raise ImportedMeanwhile(MEANWHILE)
        every_name = sorted({c.caller for c in summary.calls} | {c.callee for c in summary.calls} | set(summary.services))
        resolved = resolve_names(every_name, stored_identities(tx))
        calls = resolve_calls(summary, resolved)
        pairs = sorted({(c.caller_ci, c.callee_ci) for c in calls
                        if c.caller_ci and c.callee_ci and c.caller_ci != c.callee_ci})  # type: ignore[misc]
        declared = declared_pairs(tx, pairs)  # type: ignore[arg-type]
        missing = [p for p in pairs if p not in declared] if record_relationships else []
        for call in calls:
            pair = (call.caller_ci, call.callee_ci)
            call.declared = pair in declared
            call.declared_via = [t for t in declared.get(pair, []) if t != call.callee_ci]  # type: ignore[arg-type]
            call.recorded = pair in missing
        report = TraceImportReport(
            ok=True, dry_run=dry_run, files=names, already_imported=skipped, **counts, traces=summary.traces,
            spans=summary.spans, unattributed=summary.unattributed, orphans=summary.orphans, calls=calls,
            services={s: resolved[s].ci for s in summary.services},
            unresolved={n: r.reason for n, r in resolved.items() if r.ci is None},
            confirmed=len({(a, t) for (a, _b), targets in declared.items() for t in targets}), recorded=len(missing),
        )
        if dry_run:
            return report
        if missing:
            record(tx, store, missing, strength, actor)
        write_observations(tx, summary, calls, report.services, new_requests, actor)
        return report

    try:
        report = store.in_transaction(work, write=not dry_run)
    except ConstraintError as error:  # a concurrent import created one of these requests' TraceImport first
        raise ImportedMeanwhile(MEANWHILE) from error
    report.seconds = round(time.monotonic() - started, 3)
    return report


def record(tx: ManagedTransaction, store: Store, pairs: list[tuple[str, str]], strength: Strength, actor: str) -> None:
    """The undeclared calls as relationships, through the same plan and audit as any write."""
    from loaders.native.get import read_mapping
    from loaders.native.transform import transform as native_transform

    document = {"relationships": [{"from": a, "to": b, "type": "DEPENDS_ON", "strength": strength.value}
                                  for a, b in pairs]}
    transformed = native_transform(read_mapping("traces", document))
    if transformed.errors:
        raise ValueError("; ".join(str(e) for e in transformed.errors[:5]))
    write_plan(tx, store.plan(tx, transformed.document, SOURCE), actor, store.batch_size)


def write_observations(tx: ManagedTransaction, summary: TraceSummary, calls: list[ResolvedCall],
                       services: dict[str, str | None], requests: list[TraceRequest], actor: str) -> None:
    tx.run(MERGE_CALLS, rows=[{"id": c.key, "kind": c.kind, "caller": c.caller, "callee": c.callee, "calls": c.calls,
                               "errors": c.errors, "first_seen": c.first_seen, "last_seen": c.last_seen}
                              for c in summary.calls]).consume()
    calls_by_pair: dict[tuple[str, str], int] = {}
    seen_by_pair: dict[tuple[str, str], datetime] = {}
    for c in calls:
        if c.caller_ci and c.callee_ci and (c.declared or c.recorded):
            for target in c.declared_via or [c.callee_ci]:
                pair = (c.caller_ci, target)
                calls_by_pair[pair] = calls_by_pair.get(pair, 0) + c.calls
                seen_by_pair[pair] = max(seen_by_pair.get(pair, c.last_seen), c.last_seen)
    tx.run(STAMP_DECLARED, rows=[{"caller": a, "callee": b, "calls": n, "last_seen": seen_by_pair[(a, b)]}
                                 for (a, b), n in sorted(calls_by_pair.items())]).consume()
    traced: dict[str, datetime] = {}
    for service, at in summary.services.items():
        ci = services.get(service)
        if ci:
            traced[ci] = max(traced.get(ci, at), at)
    tx.run(STAMP_TRACED, rows=[{"id": ci, "at": at} for ci, at in sorted(traced.items())]).consume()
    tx.run(RECORD_IMPORTS, rows=[{"id": r.sha256, "file": r.file, "line": r.line} for r in requests],
           now=datetime.now(timezone.utc), actor=actor).consume()
