"""The process rules a write through the API goes through after its lifecycle check: per
record kind, a function that may complete the record (timestamps, attached analyses) or
refuse it (`RuleError`), and may add records to write in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cmdb_graph.model import IncidentStatus, Label, Record
from cmdb_graph.processes.changes import change_rules, release_rules
from cmdb_graph.processes.problems import problem_rules
from cmdb_graph.processes.records import RuleError
from cmdb_graph.store import Store

__all__ = ["RuleError", "apply_rules"]


def incident_rules(store: Store, before: Any, data: dict[str, Any], now: datetime) -> dict[str, list[dict]]:
    """Stamp the first response (leaving `received`), the resolution and the closure."""
    if before is None:
        return {}
    wanted = IncidentStatus(getattr(data.get("status"), "value", data.get("status")) or before.status.value)
    if wanted is before.status:
        return {}
    if before.status is IncidentStatus.RECEIVED and data.get("responded_at") is None:
        data["responded_at"] = now
    if wanted is IncidentStatus.RESOLVED and data.get("resolved_at") is None:
        data["resolved_at"] = now
    if wanted is IncidentStatus.CLOSED and data.get("closed_at") is None:
        data["closed_at"] = now
    return {}


RULES: dict[Label, Callable[[Store, Any, dict[str, Any], datetime], dict[str, list[dict]]]] = {
    Label.INCIDENT: incident_rules,
    Label.PROBLEM: problem_rules,
    Label.CHANGE: change_rules,
    Label.RELEASE: release_rules,
}


def apply_rules(store: Store, label: Label, before: Record | None, data: dict[str, Any], now: datetime) -> dict[str, list[dict]]:
    rule = RULES.get(label)
    return rule(store, before, data, now) if rule else {}
