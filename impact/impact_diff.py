"""impactDiff: the same failure on the graph as it is and with a plan's edits, side by side, so a
change manager sees what a migration makes better and what it makes worse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from cmdb_graph.model import CIClass, RelType
from cmdb_graph.store import Store
from impact.confidence import ConfidencePolicy
from impact.impact import Impact, State, analyse_impact
from impact.topology import AnalysisError, CIRef
from impact.what_if import GraphEdit


class ImpactChange(BaseModel):
    ci: CIRef
    before: State | None  # None: not impacted
    after: State | None
    distance_before: int | None
    distance_after: int | None


class ImpactDiff(BaseModel):
    before: Impact
    after: Impact
    cis: list[ImpactChange]
    business_services: list[ImpactChange]
    newly_impacted: int
    no_longer_impacted: int
    state_changed: int


_SEVERITY = {None: 0, State.DEGRADED: 1, State.DOWN: 2}


def impact_changes(before: Impact, after: Impact) -> list[ImpactChange]:
    """Every CI whose state differs, those that got worse first, then by id."""
    was = {row.ci.id: row for row in before.impacted}
    now = {row.ci.id: row for row in after.impacted}
    changes = []
    for ci_id in sorted(was.keys() | now.keys()):
        old, new = was.get(ci_id), now.get(ci_id)
        if old is not None and new is not None and old.state is new.state:
            continue
        changes.append(ImpactChange(
            ci=(new or old).ci,  # type: ignore[union-attr]
            before=old.state if old else None, after=new.state if new else None,
            distance_before=old.distance if old else None, distance_after=new.distance if new else None,
        ))
    return sorted(changes, key=lambda c: (_SEVERITY[c.before] - _SEVERITY[c.after], c.ci.id))


def analyse_impact_diff(
    store: Store, failed: Sequence[str], what_if: Sequence[GraphEdit], max_depth: int | None = None,
    relationship_types: Sequence[RelType] | None = None, *, as_of: datetime | None = None,
    policy: ConfidencePolicy | None = None,
) -> ImpactDiff:
    if not what_if:
        raise AnalysisError("whatIf: give at least one edit to compare with")
    before = analyse_impact(store, failed, max_depth, relationship_types, as_of=as_of, policy=policy)
    after = analyse_impact(store, failed, max_depth, relationship_types, as_of=as_of, what_if=what_if, policy=policy)
    cis = impact_changes(before, after)
    return ImpactDiff(
        before=before, after=after, cis=cis,
        business_services=[c for c in cis if c.ci.ci_class is CIClass.BUSINESS_SERVICE],
        newly_impacted=sum(1 for c in cis if c.before is None),
        no_longer_impacted=sum(1 for c in cis if c.after is None),
        state_changed=sum(1 for c in cis if c.before is not None and c.after is not None),
    )
