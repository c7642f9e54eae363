"""Change and release rules on top of the lifecycles (`cmdb_graph/lifecycle.py`).

- Assessing a change attaches its change-impact analysis (`impact/change_impact.py`): risk
  score, approval route, impacted business services, whether it runs outside its targets'
  maintenance windows or in a blackout, and the people to notify: the owners of the impacted
  business services, found through the graph.
- Approval needs that analysis attached; a normal or emergency change needs a rollback plan;
  a change outside its windows or inside a blackout needs an explicit `override_reason`; a
  CAB or emergency-CAB approval names who approved it (`approved_by`). Only a standard change
  from the catalogue on non-production targets (route PRE_APPROVED) is approved as requested,
  and a standard change recorded through the API is approved at once when it is one.
- A release is scheduled only with a window; it is verified only when every change in it
  is implemented; rolling it back rolls back every change in it that is not finished, as one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cmdb_graph.model import Change, ChangeState, ChangeType, Release, ReleaseState
from cmdb_graph.processes.records import RuleError
from cmdb_graph.store import Store
from impact.change_impact import ChangeImpact, analyse_change

PRE_APPROVED = "PRE_APPROVED"
CATALOGUE_APPROVER = "standard change catalogue"
IMPLEMENTED_STATES = ("implemented", "reviewed", "closed")
FINISHED_STATES = ("closed", "rejected", "cancelled", "rolled_back")


OWNERS_OF = "UNWIND $ids AS id MATCH (s:CI {id: id}) WHERE s.owner IS NOT NULL RETURN collect(DISTINCT s.owner) AS owners"


def attachment(store: Store, impact: ChangeImpact, now: datetime) -> dict[str, Any]:
    """The fields of the change-impact analysis a change carries once assessed."""
    services = [s.ci.id for s in impact.business_services]
    owners = store.rows(OWNERS_OF, ids=services)[0]["owners"] if services else []
    return {
        "impact_assessed_at": now, "risk_score": impact.risk_score, "approval_route": impact.approval_route,
        "impacted_services": services, "notify": sorted(owners),
        "outside_maintenance_window": impact.outside_maintenance_window, "in_blackout": impact.in_blackout,
    }


def assess(store: Store, change: Change, now: datetime) -> dict[str, Any]:
    """The attachment for `change` as given (as it is about to be written, targets and
    window included)."""
    return attachment(store, analyse_change(store, change), now)


def approval_problems(change: Change, moving_from: ChangeState) -> list[tuple[str, str]]:
    """(field, what is missing) for each approval rule the change does not meet."""
    problems = []
    if change.impact_assessed_at is None:
        problems.append(("state", "approval needs the change-impact analysis attached: move the change to assessed "
                                  "(or run assessChange) first"))
        return problems
    route = change.approval_route
    if moving_from is ChangeState.REQUESTED and route != PRE_APPROVED:
        problems.append(("state", f"only a pre-approved standard change skips assessment; this one goes to the {route}"))
    if change.type in (ChangeType.NORMAL, ChangeType.EMERGENCY) and not change.rollback_plan:
        problems.append(("rollbackPlan", f"a {change.type.value} change needs a rollback plan before approval"))
    reasons = [text for flag, text in ((change.outside_maintenance_window, "runs outside its targets' maintenance windows"),
                                       (change.in_blackout, "runs inside a blackout")) if flag]
    if reasons and not change.override_reason:
        problems.append(("overrideReason", f"the change {' and '.join(reasons)}: approve it only with an override reason"))
    if route != PRE_APPROVED and not change.approved_by:
        problems.append(("approvedBy", f"name the {route.replace('_', ' ') if route else 'CAB'} decision that approves it"))
    return problems


def change_rules(store: Store, before: Change | None, data: dict[str, Any], now: datetime) -> dict[str, list[dict]]:
    """Apply the change rules to `data` (the change as it will be written) in place; return
    further records to write with it (none for changes)."""
    if before is None:
        pre_approve_standard(store, data, now)
        return {}
    wanted = ChangeState(getattr(data.get("state"), "value", data.get("state")) or before.state.value)
    if wanted is before.state:
        return {}
    if wanted is ChangeState.ASSESSED:
        data.update(assess(store, Change.model_validate(data), now))
    elif wanted is ChangeState.APPROVED:
        if before.state is ChangeState.REQUESTED and before.type is ChangeType.STANDARD:
            data.update(assess(store, Change.model_validate(data), now))  # the catalogue decides at once
        problems = approval_problems(Change.model_validate(data), before.state)
        if problems:
            raise RuleError(problems[0][0], "; ".join(message for _field, message in problems))
        if data.get("approval_route") == PRE_APPROVED and not data.get("approved_by"):
            data["approved_by"] = CATALOGUE_APPROVER
        if data.get("approved_at") is None:
            data["approved_at"] = now
    return {}


def pre_approve_standard(store: Store, data: dict[str, Any], now: datetime) -> None:
    """A standard change being recorded is assessed at once, and approved when the catalogue
    pre-approves it (a standard change on non-production targets, of a catalogued kind)."""
    change = Change.model_validate(data)
    if change.type is not ChangeType.STANDARD:
        return
    fields = assess(store, change, now)
    data.update(fields)
    if fields["approval_route"] == PRE_APPROVED and change.state is ChangeState.REQUESTED:
        data.update(state=ChangeState.APPROVED.value, approved_by=CATALOGUE_APPROVER, approved_at=now)


CHANGES_OF_RELEASE = "MATCH (k:Change)-[:PART_OF]->(:Release {id: $id}) RETURN k.id AS id ORDER BY id"


def release_rules(store: Store, before: Release | None, data: dict[str, Any], now: datetime) -> dict[str, list[dict]]:
    if before is None:
        return {}
    wanted = ReleaseState(getattr(data.get("state"), "value", data.get("state")) or before.state.value)
    if wanted is before.state:
        return {}
    if wanted is ReleaseState.SCHEDULED and not (data.get("window_start") and data.get("window_end")):
        raise RuleError("windowStart", "a release is scheduled into a window: give windowStart and windowEnd")
    ids = [row["id"] for row in store.rows(CHANGES_OF_RELEASE, id=before.id)]
    changes = [c for c in store.records_by_id(Change, ids).values() if isinstance(c, Change)]
    if wanted is ReleaseState.VERIFIED:
        unfinished = sorted(c.id for c in changes if c.state.value not in IMPLEMENTED_STATES)
        if unfinished:
            raise RuleError("state", f"a release is verified once all its changes are implemented; not yet: {', '.join(unfinished)}")
        if data.get("verified_at") is None:
            data["verified_at"] = now
    if wanted is ReleaseState.ROLLED_BACK:
        if not data.get("rollback_reason"):
            raise RuleError("rollbackReason", "say why the release is rolled back (rollbackReason)")
        rolled = [{**c.model_dump(mode="python"), "state": ChangeState.ROLLED_BACK.value,
                   "outcome": f"rolled back with release {before.id}: {data['rollback_reason']}"}
                  for c in changes if c.state.value not in FINISHED_STATES]
        return {"changes": rolled} if rolled else {}
    return {}
