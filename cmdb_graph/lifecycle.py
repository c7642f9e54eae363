"""The lifecycles of incidents, problems, changes and releases, as data: from each state, the
states a record may move to. Updates through the API follow them; loads of history do not
(an export holds wherever each record got to, by whatever path)."""

from __future__ import annotations

from enum import Enum

from cmdb_graph.model import ChangeState, IncidentStatus, Label, ProblemStatus, ReleaseState

I, P, C, R = IncidentStatus, ProblemStatus, ChangeState, ReleaseState

# received -> assessed -> assigned -> in progress -> resolved -> closed (the seed's lifecycle);
# an incident may be handed to another group while worked on, and a resolution the user
# rejects reopens it.
INCIDENT_TRANSITIONS: dict[Enum, frozenset[Enum]] = {
    I.RECEIVED: frozenset({I.ASSESSED}),
    I.ASSESSED: frozenset({I.ASSIGNED}),
    I.ASSIGNED: frozenset({I.IN_PROGRESS}),
    I.IN_PROGRESS: frozenset({I.ASSIGNED, I.RESOLVED}),
    I.RESOLVED: frozenset({I.IN_PROGRESS, I.CLOSED}),
    I.CLOSED: frozenset(),
}

# A problem becomes a known error once its root cause and workaround are known; a resolved
# problem that recurs is investigated again.
PROBLEM_TRANSITIONS: dict[Enum, frozenset[Enum]] = {
    P.OPEN: frozenset({P.INVESTIGATING}),
    P.INVESTIGATING: frozenset({P.KNOWN_ERROR, P.RESOLVED}),
    P.KNOWN_ERROR: frozenset({P.RESOLVED}),
    P.RESOLVED: frozenset({P.INVESTIGATING, P.CLOSED}),
    P.CLOSED: frozenset(),
}

# requested -> assessed -> approved -> scheduled -> implementing -> implemented -> reviewed ->
# closed, or failed -> rolled back -> closed; a change may be rejected while assessed and
# cancelled until it starts. A standard change from the catalogue is approved as requested
# (the approval rules in `processes/changes.py` refuse that jump to any other change).
CHANGE_TRANSITIONS: dict[Enum, frozenset[Enum]] = {
    C.REQUESTED: frozenset({C.ASSESSED, C.APPROVED, C.REJECTED, C.CANCELLED}),
    C.ASSESSED: frozenset({C.APPROVED, C.REJECTED, C.CANCELLED}),
    C.APPROVED: frozenset({C.SCHEDULED, C.CANCELLED}),
    C.SCHEDULED: frozenset({C.IMPLEMENTING, C.CANCELLED}),
    C.IMPLEMENTING: frozenset({C.IMPLEMENTED, C.FAILED}),
    C.IMPLEMENTED: frozenset({C.REVIEWED, C.FAILED}),
    C.REVIEWED: frozenset({C.CLOSED}),
    C.FAILED: frozenset({C.ROLLED_BACK}),
    C.ROLLED_BACK: frozenset({C.CLOSED}),
    C.REJECTED: frozenset(),
    C.CANCELLED: frozenset(),
    C.CLOSED: frozenset(),
}

# A release is built, tested (back to building when a test fails), scheduled, deployed and
# verified, or rolled back as one.
RELEASE_TRANSITIONS: dict[Enum, frozenset[Enum]] = {
    R.PLANNED: frozenset({R.BUILDING, R.CANCELLED}),
    R.BUILDING: frozenset({R.TESTING, R.CANCELLED}),
    R.TESTING: frozenset({R.BUILDING, R.SCHEDULED, R.CANCELLED}),
    R.SCHEDULED: frozenset({R.DEPLOYED, R.CANCELLED}),
    R.DEPLOYED: frozenset({R.VERIFIED, R.ROLLED_BACK}),
    R.VERIFIED: frozenset(),
    R.ROLLED_BACK: frozenset(),
    R.CANCELLED: frozenset(),
}

# label -> (the field holding the state, its transitions)
LIFECYCLES: dict[Label, tuple[str, dict[Enum, frozenset[Enum]]]] = {
    Label.INCIDENT: ("status", INCIDENT_TRANSITIONS),
    Label.PROBLEM: ("status", PROBLEM_TRANSITIONS),
    Label.CHANGE: ("state", CHANGE_TRANSITIONS),
    Label.RELEASE: ("state", RELEASE_TRANSITIONS),
}


class TransitionError(ValueError):
    """A record was asked to move to a state its lifecycle does not allow from where it is."""

    def __init__(self, label: Label, field: str, current: Enum, wanted: Enum, allowed: frozenset[Enum]) -> None:
        options = ", ".join(sorted(state.value for state in allowed)) or "none: it is final"
        super().__init__(f"this {label.value} cannot go from {current.value} to {wanted.value}; from "
                         f"{current.value} it can go to {options}")
        self.field = field


def check_transition(label: Label, current: Enum | str, wanted: Enum | str) -> None:
    """Raise `TransitionError` unless a `label` record may move from `current` to `wanted`
    (staying where it is is always allowed); records without a lifecycle pass."""
    if label not in LIFECYCLES:
        return
    field, transitions = LIFECYCLES[label]
    states = type(next(iter(transitions)))
    current, wanted = states(getattr(current, "value", current)), states(getattr(wanted, "value", wanted))
    if current != wanted and wanted not in transitions[current]:
        raise TransitionError(label, field, current, wanted, transitions[current])
