"""Record what a trace export observed, in one transaction: every call as an `ObservedCall`
(kind|caller|callee, by telemetry names, so a CI added later still matches it), the export
itself as a `TraceImport` keyed by its files' sha256 (importing it again changes nothing),
`observed_at`/`observed_calls` on each declared DEPENDS_ON a call confirms, `traced_at` on each
instrumented CI; and, when asked, the calls not declared as relationships with source `traces`."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from neo4j import ManagedTransaction
from pydantic import BaseModel

from cmdb_graph.model import Strength
from cmdb_graph.store import Store, write_plan
from loaders.traces.get import TraceFile
from loaders.traces.transform import Identity, ObservedCall, Resolution, TraceSummary, resolve_names, transform

SOURCE = "traces"


class ResolvedCall(ObservedCall):
    caller_ci: str | None
    callee_ci: str | None
    declared: bool  # the CMDB holds a DEPENDS_ON from the caller's CI to the callee's
    recorded: bool = False  # written by this import as a relationship with source `traces`


class TraceImportReport(BaseModel):
    ok: bool
    dry_run: bool
    files: list[str]
    already_imported: list[str]  # files whose exact bytes were imported before: skipped
    traces: int = 0
    spans: int = 0
    unattributed: int = 0
    orphans: int = 0
    calls: list[ResolvedCall] = []
    services: dict[str, str | None] = {}  # each instrumented service's CI
    unresolved: dict[str, str] = {}  # each name no single CI answers to, and why
    confirmed: int = 0  # declared relationships a call confirmed
    recorded: int = 0  # relationships written for undeclared calls
    errors: list[str] = []
    seconds: float = 0.0


class ImportedMeanwhile(RuntimeError):
    """Another import of the same export committed first."""


IDENTITIES = """
MATCH (c:CI)
RETURN c.id AS id, c.name AS name, c.fqdn AS fqdn, c.ip_addresses AS ips, c.external_ids AS external_ids
"""


def read_identities(tx: ManagedTransaction) -> list[Identity]:
    return [(r["id"], r["name"] or "", r["fqdn"], tuple(r["ips"] or ()),
             json.loads(r["external_ids"]) if r["external_ids"] else {}) for r in tx.run(IDENTITIES)]


IMPORTED = "UNWIND $hashes AS hash MATCH (t:TraceImport {id: hash}) RETURN t.id AS id"


def imported_hashes(tx: ManagedTransaction, hashes: list[str]) -> set[str]:
    return {r["id"] for r in tx.run(IMPORTED, hashes=hashes)}


DECLARED = """
UNWIND $pairs AS pair
MATCH (:CI {id: pair[0]})-[:DEPENDS_ON]->(:CI {id: pair[1]})
RETURN pair[0] AS caller, pair[1] AS callee
"""


def declared_pairs(tx: ManagedTransaction, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(r["caller"], r["callee"]) for r in tx.run(DECLARED, pairs=[list(p) for p in pairs])}


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
CREATE (:TraceImport {id: row.id, file: row.file, imported_at: $now, actor: $actor, spans: $spans, calls: $calls})
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
    unique = list({f.sha256: f for f in files}.values())
    before = store.in_transaction(lambda tx: imported_hashes(tx, [f.sha256 for f in unique]), write=False)
    new = [f for f in unique if f.sha256 not in before]
    skipped = [f.file for f in files if f not in new]
    summary = transform(new)
    if summary.errors:
        return TraceImportReport(ok=False, dry_run=dry_run, files=names, already_imported=skipped,
                                 errors=[str(e) for e in summary.errors[:200]], seconds=time.monotonic() - started)

    def work(tx: ManagedTransaction) -> TraceImportReport:
        if imported_hashes(tx, [f.sha256 for f in new]):
            raise ImportedMeanwhile("another import of this export committed first; run it again to see nothing "
                                    "left to import")
        every_name = sorted({c.caller for c in summary.calls} | {c.callee for c in summary.calls} | set(summary.services))
        resolved = resolve_names(every_name, read_identities(tx))
        calls = resolve_calls(summary, resolved)
        pairs = sorted({(c.caller_ci, c.callee_ci) for c in calls
                        if c.caller_ci and c.callee_ci and c.caller_ci != c.callee_ci})  # type: ignore[misc]
        declared = declared_pairs(tx, pairs)  # type: ignore[arg-type]
        missing = [p for p in pairs if p not in declared] if record_relationships else []
        for call in calls:
            pair = (call.caller_ci, call.callee_ci)
            call.declared = pair in declared
            call.recorded = pair in missing
        report = TraceImportReport(
            ok=True, dry_run=dry_run, files=names, already_imported=skipped, traces=summary.traces,
            spans=summary.spans, unattributed=summary.unattributed, orphans=summary.orphans, calls=calls,
            services={s: resolved[s].ci for s in summary.services},
            unresolved={n: r.reason for n, r in resolved.items() if r.ci is None},
            confirmed=len(declared), recorded=len(missing),
        )
        if dry_run or not new:
            return report
        if missing:
            record(tx, store, missing, strength, actor)
        write_observations(tx, summary, calls, report, new, actor)
        return report

    report = store.in_transaction(work, write=not dry_run)
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
                       report: TraceImportReport, files: list[TraceFile], actor: str) -> None:
    tx.run(MERGE_CALLS, rows=[{"id": c.key, "kind": c.kind, "caller": c.caller, "callee": c.callee, "calls": c.calls,
                               "errors": c.errors, "first_seen": c.first_seen, "last_seen": c.last_seen}
                              for c in summary.calls]).consume()
    calls_by_pair: dict[tuple[str, str], int] = {}
    seen_by_pair: dict[tuple[str, str], datetime] = {}
    for c in calls:
        if c.caller_ci and c.callee_ci and (c.declared or c.recorded):
            pair = (c.caller_ci, c.callee_ci)
            calls_by_pair[pair] = calls_by_pair.get(pair, 0) + c.calls
            seen_by_pair[pair] = max(seen_by_pair.get(pair, c.last_seen), c.last_seen)
    tx.run(STAMP_DECLARED, rows=[{"caller": a, "callee": b, "calls": n, "last_seen": seen_by_pair[(a, b)]}
                                 for (a, b), n in sorted(calls_by_pair.items())]).consume()
    traced: dict[str, datetime] = {}
    for service, at in summary.services.items():
        ci = report.services.get(service)
        if ci:
            traced[ci] = max(traced.get(ci, at), at)
    tx.run(STAMP_TRACED, rows=[{"id": ci, "at": at} for ci, at in sorted(traced.items())]).consume()
    tx.run(RECORD_IMPORTS, rows=[{"id": f.sha256, "file": f.file} for f in files], now=datetime.now(timezone.utc),
           actor=actor, spans=summary.spans, calls=sum(c.calls for c in summary.calls)).consume()
