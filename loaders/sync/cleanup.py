"""What a source no longer reports. Runs only in the last transaction of a run, after all of
the load committed, so a failed or refused run never retires anything.

A CI the source reported before and not now loses the source's claim. If no other source
still reports it, it is retired (its `last_seen` stays: when it was last seen) or, with
`delete_stale`, deleted. Relationships are claimed the same way; one nobody reports any more
is deleted (a relationship has no lifecycle to retire into). CIs and relationships that no
importer ever claimed (native loads, the API) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from neo4j import ManagedTransaction

from cmdb_graph.model import CIStatus, Label
from cmdb_graph.store import (
    RELATIONSHIP_KIND,
    ItemChange,
    WritePlan,
    ci_content,
    existing_cis,
    plan_cis,
    relationship_key,
    stored_ci_from_props,
    write_plan,
)
from loaders.sync.reconcile import StoredIdentity

if TYPE_CHECKING:
    from loaders.sync.load import SyncOptions


@dataclass
class CleanupPlan:
    previously: int  # CIs the source reported before this run
    stale: list[StoredIdentity]  # of those, the ones it does not report now

    def share(self) -> float:
        return len(self.stale) / self.previously if self.previously else 0.0


@dataclass
class CleanupOutcome:
    retired: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    no_longer_reported: list[str] = field(default_factory=list)
    relationships_removed: list[str] = field(default_factory=list)


def plan_cleanup(identities: list[StoredIdentity], reported_now: set[str], source: str) -> CleanupPlan:
    before = [s for s in identities if source in s.reported_by]
    stale = sorted((s for s in before if s.id not in reported_now), key=lambda s: s.id)
    return CleanupPlan(previously=len(before), stale=stale)


DROP_CI_CLAIMS = """
UNWIND $ids AS id
MATCH (n:CI {id: id})
SET n.reported_by = [name IN n.reported_by WHERE name <> $source]
"""

REPORTED_RELATIONSHIPS = """
MATCH (a:CI)-[r]->(b:CI)
WHERE $source IN r.reported_by
RETURN a.id AS source, type(r) AS type, b.id AS target, r.reported_by AS reported_by,
       r.version AS version, r.strength AS strength
"""

DROP_RELATIONSHIP_CLAIMS = """
UNWIND $rows AS row
MATCH (a:CI {id: row.source})-[r]->(b)
WHERE b.id = row.target AND type(r) = row.type
SET r.reported_by = [name IN r.reported_by WHERE name <> $source]
"""


def apply_cleanup(
    tx: ManagedTransaction,
    cleanup: CleanupPlan,
    reported_relationships: set[tuple[str, str, str]],
    options: SyncOptions,
    now: datetime,
    write: bool,
) -> CleanupOutcome:
    outcome = CleanupOutcome()
    source = options.source
    shared = [s.id for s in cleanup.stale if set(s.reported_by) - {source}]
    alone = [s.id for s in cleanup.stale if not set(s.reported_by) - {source}]
    outcome.no_longer_reported = shared
    claims = list(shared)  # CIs that only lose this source's claim
    changes: list[ItemChange] = []
    if alone:
        stored = existing_cis(tx, alone)
        if options.delete_stale:
            for ci_id in alone:
                before = ci_content(stored_ci_from_props(stored[ci_id]).ci)
                changes.append(ItemChange(Label.CI.value, ci_id, "delete", before, None, sorted(before),
                                          row={"version": int(stored[ci_id].get("version") or 0) + 1}))
            outcome.deleted = alone
        else:
            retiring = [stored_ci_from_props(stored[ci_id]).ci for ci_id in alone]
            retiring = [ci.model_copy(update={"status": CIStatus.RETIRED}) for ci in retiring]
            for change in plan_cis(tx, retiring, now, source, stored):
                if change.action == "unchanged":  # retired already, by hand
                    claims.append(change.key)
                    continue
                change.row["book"]["last_seen"] = stored[change.key].get("last_seen")
                change.row["book"]["reported_by"] = []
                changes.append(change)
            outcome.retired = [c.key for c in changes]

    stale_relationships = []
    # A source that reported no CI before reported no relationship either: skip the scan.
    for row in tx.run(REPORTED_RELATIONSHIPS, source=source) if cleanup.previously else ():
        key = (row["source"], row["type"], row["target"])
        if key in reported_relationships or row["source"] in outcome.deleted or row["target"] in outcome.deleted:
            continue
        stale_relationships.append(row)
    drop_claims = [r for r in stale_relationships if set(r["reported_by"]) - {source}]
    for r in stale_relationships:
        if r in drop_claims:
            continue
        before = {"strength": r["strength"]}
        changes.append(ItemChange(RELATIONSHIP_KIND, relationship_key(r["source"], r["type"], r["target"]), "delete",
                                  before, None, ["strength"], row={"version": int(r["version"] or 0) + 1,
                                                   "source": r["source"], "type": r["type"], "target": r["target"]}))
    outcome.relationships_removed = sorted(c.key for c in changes if c.kind == RELATIONSHIP_KIND)

    if write:
        tx.run(DROP_CI_CLAIMS, ids=claims, source=source).consume()
        tx.run(DROP_RELATIONSHIP_CLAIMS, source=source,
               rows=[{"source": r["source"], "type": r["type"], "target": r["target"]} for r in drop_claims]).consume()
        write_plan(tx, WritePlan(changes), options.actor, options.batch_size)
    return outcome
