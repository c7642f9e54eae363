"""What the service-management records say about CIs: open incidents, recent changes, open
problems and known errors. Dependencies shows it beside each CI; root cause weighs it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from cmdb_graph.model import OPEN_INCIDENT_STATUSES, from_neo4j_text
from cmdb_graph.store import Store

OPEN_PROBLEM_STATUSES = ("open", "investigating", "known_error")


class RecordRef(BaseModel):
    id: str
    title: str
    status: str | None = None
    at: datetime | None = None  # opened (incidents, problems); implemented or planned (changes)


class Evidence(BaseModel):
    open_incidents: list[RecordRef] = []
    recent_changes: list[RecordRef] = []
    open_problems: list[RecordRef] = []
    known_errors: list[RecordRef] = []

    @property
    def empty(self) -> bool:
        return not (self.open_incidents or self.recent_changes or self.open_problems or self.known_errors)


EVIDENCE_ON_CIS = """
UNWIND $ids AS id
MATCH (c:CI {id: id})
RETURN collect({
  id: id,
  open_incidents: COLLECT {
    MATCH (i:Incident)-[:AFFECTS]->(c) WHERE i.status IN $open_incidents
    RETURN {id: i.id, title: i.title, status: i.status, at: toString(i.opened_at)} ORDER BY i.id },
  recent_changes: COLLECT {
    MATCH (k:Change)-[:TARGETS]->(c)
    WITH k, coalesce(k.implemented_at, k.planned_start) AS at
    WHERE at >= datetime($since) AND at <= datetime($until)
    RETURN {id: k.id, title: k.title, status: k.state, at: toString(at)} ORDER BY k.id },
  problems: COLLECT {
    MATCH (p:Problem)-[:ROOT_CAUSE_IN]->(c) WHERE p.status IN $open_problems
    RETURN {id: p.id, title: p.title, status: p.status, at: toString(p.opened_at), known: p.known_error}
    ORDER BY p.id }
}) AS rows
"""


def _ref(row: dict) -> RecordRef:
    at = row.get("at")
    return RecordRef(id=row["id"], title=row.get("title") or row["id"], status=row.get("status"),
                     at=from_neo4j_text(at) if at else None)


def evidence_on(store: Store, ids: Sequence[str], since: datetime, until: datetime) -> dict[str, Evidence]:
    """Per CI: its open incidents, the changes on it between `since` and `until`, its open
    problems (those with a known root cause and workaround listed as known errors)."""
    rows = store.rows(EVIDENCE_ON_CIS, ids=list(ids), since=since.isoformat(), until=until.isoformat(),
                open_incidents=list(OPEN_INCIDENT_STATUSES), open_problems=list(OPEN_PROBLEM_STATUSES))[0]["rows"]
    found: dict[str, Evidence] = {}
    for row in rows:
        problems = row["problems"]
        found[row["id"]] = Evidence(
            open_incidents=[_ref(r) for r in row["open_incidents"]],
            recent_changes=[_ref(r) for r in row["recent_changes"]],
            open_problems=[_ref(r) for r in problems if not r.get("known")],
            known_errors=[_ref(r) for r in problems if r.get("known")],
        )
    return found
