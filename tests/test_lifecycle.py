"""The lifecycles as state machines: every allowed move, and the moves they refuse."""

from __future__ import annotations

import pytest

from cmdb_graph.lifecycle import (
    CHANGE_TRANSITIONS,
    INCIDENT_TRANSITIONS,
    LIFECYCLES,
    PROBLEM_TRANSITIONS,
    RELEASE_TRANSITIONS,
    TransitionError,
    check_transition,
)
from cmdb_graph.model import ChangeState, IncidentStatus, Label, ProblemStatus, ReleaseState

MACHINES = [(Label.INCIDENT, IncidentStatus, INCIDENT_TRANSITIONS), (Label.PROBLEM, ProblemStatus, PROBLEM_TRANSITIONS),
            (Label.CHANGE, ChangeState, CHANGE_TRANSITIONS), (Label.RELEASE, ReleaseState, RELEASE_TRANSITIONS)]


@pytest.mark.parametrize(("label", "states", "transitions"), MACHINES)
def test_every_state_has_a_row_and_every_move_stays_in_the_lifecycle(label, states, transitions):
    assert set(transitions) == set(states)
    for current, allowed in transitions.items():
        assert allowed <= set(states)
        for wanted in states:
            if wanted in allowed or wanted == current:
                check_transition(label, current, wanted)
            else:
                with pytest.raises(TransitionError):
                    check_transition(label, current, wanted)


@pytest.mark.parametrize(("label", "path"), [
    (Label.INCIDENT, ["received", "assessed", "assigned", "in_progress", "resolved", "closed"]),
    (Label.PROBLEM, ["open", "investigating", "known_error", "resolved", "closed"]),
    (Label.CHANGE, ["requested", "assessed", "approved", "scheduled", "implementing", "implemented", "reviewed", "closed"]),
    (Label.CHANGE, ["requested", "assessed", "approved", "scheduled", "implementing", "failed", "rolled_back", "closed"]),
    (Label.RELEASE, ["planned", "building", "testing", "building", "testing", "scheduled", "deployed", "rolled_back"]),
])
def test_the_seed_paths_are_allowed_from_start_to_end(label, path):
    for current, wanted in zip(path, path[1:]):
        check_transition(label, current, wanted)


@pytest.mark.parametrize(("label", "current", "wanted"), [
    (Label.INCIDENT, "received", "resolved"),  # not assessed, not assigned
    (Label.INCIDENT, "closed", "in_progress"),  # closed is final
    (Label.INCIDENT, "assigned", "closed"),  # not resolved first
    (Label.CHANGE, "requested", "implementing"),  # not approved
    (Label.CHANGE, "implemented", "rolled_back"),  # only a failed change rolls back
    (Label.PROBLEM, "open", "known_error"),  # not investigated
    (Label.RELEASE, "planned", "deployed"),
])
def test_skipping_steps_is_refused_and_the_message_lists_where_it_can_go(label, current, wanted):
    with pytest.raises(TransitionError) as refused:
        check_transition(label, current, wanted)
    field, _ = LIFECYCLES[label]
    assert refused.value.field == field
    assert f"cannot go from {current} to {wanted}" in str(refused.value)


def test_a_final_state_says_so():
    with pytest.raises(TransitionError, match="it can go to none: it is final"):
        check_transition(Label.CHANGE, "closed", "requested")


def test_records_without_a_lifecycle_pass():
    check_transition(Label.SLA, "anything", "else")
