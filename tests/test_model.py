"""Validation rules of the model: each bad value is refused with a message naming it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from cmdb_graph.model import (
    CI,
    CLASS_LAYER,
    PRIORITY_MATRIX,
    Blackout,
    Change,
    CIClass,
    Impact,
    Incident,
    IncidentStatus,
    Layer,
    MaintenanceWindow,
    Problem,
    Release,
    Relationship,
    SLA,
    Strength,
    Urgency,
)


def refused(model, data: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    assert fragment in str(caught.value), str(caught.value)


def test_every_class_has_a_layer():
    assert set(CLASS_LAYER) == set(CIClass)
    assert CI.model_validate({"id": "shop", "class": "BusinessService"}).layer is Layer.BUSINESS
    assert CI.model_validate({"id": "db", "class": "Database"}).layer is Layer.SERVICE
    assert CI.model_validate({"id": "sw", "class": "NetworkDevice"}).layer is Layer.INFRASTRUCTURE


def test_name_defaults_to_id_and_groups_default_to_one_member():
    assert CI.model_validate({"id": "web-1", "class": "Server"}).name == "web-1"
    assert CI.model_validate({"id": "farm", "class": "Cluster"}).min_members == 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"id": "x", "class": "Toaster"}, "class"),
        ({"id": "x"}, "class"),
        ({"id": "", "class": "Server"}, "id"),
        ({"id": "has space", "class": "Server"}, "id"),
        ({"id": "x", "class": "Server", "criticality": 0}, "greater than or equal to 1"),
        ({"id": "x", "class": "Server", "criticality": 5}, "less than or equal to 4"),
        ({"id": "x", "class": "Server", "availability": 1.5}, "less than or equal to 1"),
        ({"id": "x", "class": "Server", "rto_minutes": -1}, "greater than or equal to 0"),
        ({"id": "x", "class": "Server", "rpo_minutes": -5}, "greater than or equal to 0"),
        ({"id": "x", "class": "Server", "status": "broken"}, "status"),
        ({"id": "x", "class": "Server", "environment": "prod"}, "environment"),
        ({"id": "x", "class": "Server", "min_members": 2}, "min_members is only for Cluster and RedundancyGroup"),
        ({"id": "x", "class": "Cluster", "min_members": 0}, "greater than or equal to 1"),
        ({"id": "x", "class": "Server", "ip_addresses": ["10.0.0.300"]}, "does not appear to be an IPv4 or IPv6"),
        ({"id": "x", "class": "Server", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_ci_is_refused(data, fragment):
    refused(CI, data, fragment)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"from": "a", "to": "a"}, "cannot depend on itself"),
        ({"from": "a", "to": "b", "type": "LIKES"}, "type"),
        ({"from": "a", "to": "b", "strength": "medium"}, "strength"),
        ({"from": "a"}, "to"),
    ],
)
def test_bad_relationship_is_refused(data, fragment):
    refused(Relationship, data, fragment)


def test_relationship_defaults_to_hard_depends_on():
    rel = Relationship.model_validate({"from": "a", "to": "b"})
    assert rel.type.value == "DEPENDS_ON" and rel.strength is Strength.HARD


OPENED = "2026-11-01T10:00:00Z"


def test_incident_accepts_the_documented_aliases_and_computes_priority():
    incident = Incident.model_validate(
        {"id": "INC1", "title": "t", "impact": "high", "urgency": "high", "status": "open", "opened_at": OPENED}
    )
    assert incident.impact is Impact.GLOBAL
    assert incident.status is IncidentStatus.RECEIVED
    assert incident.priority == PRIORITY_MATRIX[(Impact.GLOBAL, Urgency.HIGH)] == 1
    assert incident.opened_at == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)


def test_naive_timestamps_are_taken_as_utc():
    incident = Incident.model_validate({"id": "INC1", "title": "t", "opened_at": "2026-11-01T10:00:00"})
    assert incident.opened_at.tzinfo is not None and incident.opened_at.utcoffset().total_seconds() == 0


def test_priority_matrix_covers_every_combination():
    assert set(PRIORITY_MATRIX) == {(i, u) for i in Impact for u in Urgency}


@pytest.mark.parametrize(
    ("model", "data", "fragment"),
    [
        (Incident, {"id": "I", "title": "t", "opened_at": OPENED, "status": "closed"}, "a closed incident needs a resolution"),
        (Incident, {"id": "I", "title": "t", "opened_at": OPENED, "urgency": "whenever"}, "urgency"),
        (Incident, {"id": "I", "title": "t", "opened_at": OPENED, "category": "weather"}, "category"),
        (Incident, {"id": "I", "title": "t"}, "opened_at"),
        (Incident, {"id": "I", "title": "t", "opened_at": OPENED, "resolved_at": "2026-10-01T00:00:00Z"},
         "resolved_at must be after opened_at"),
        (Problem, {"id": "P", "title": "t", "known_error": True}, "a known error needs a workaround"),
        (Change, {"id": "C", "title": "t", "type": "whimsical"}, "type"),
        (Change, {"id": "C", "title": "t", "planned_start": "2026-12-02T00:00:00Z", "planned_end": "2026-12-01T00:00:00Z"},
         "planned_end must be after planned_start"),
        (Release, {"id": "R", "version": "1", "window_start": "2026-12-02T00:00:00Z", "window_end": "2026-12-01T00:00:00Z"},
         "window_end must be after window_start"),
        (MaintenanceWindow, {"id": "M", "start": "2026-12-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
         "end must be after start"),
        (Blackout, {"id": "B", "start": "2026-12-01T00:00:00Z"}, "end"),
        (SLA, {"id": "S", "service": "shop", "availability_target": 1.2}, "less than or equal to 1"),
        (SLA, {"id": "S", "availability_target": 0.99}, "service"),
    ],
)
def test_bad_record_is_refused(model, data, fragment):
    refused(model, data, fragment)


def test_release_version_number_is_kept_as_text():
    release = Release.model_validate({"id": "REL1", "version": 2.1})
    assert release.release_version == "2.1"
    assert release.properties()["release_version"] == "2.1"
    assert "version" not in release.properties()


def test_record_edges_are_declared_data():
    incident = Incident.model_validate(
        {"id": "I", "title": "t", "opened_at": OPENED, "affects": ["b", "a", "a"], "caused_by": "P1"}
    )
    assert incident.edge_targets() == {"affects": ["a", "b"], "caused_by": ["P1"], "caused_by_change": []}
    assert "affects" not in incident.properties()


def test_priority_matrix_is_the_documented_table():
    # docs/processes.md: rows are impact scopes, columns urgency critical, high, medium, low
    documented = {"global": (1, 1, 2, 3), "department": (1, 2, 3, 4), "local": (2, 3, 4, 4)}
    for impact, priorities in documented.items():
        for urgency, priority in zip(("critical", "high", "medium", "low"), priorities):
            assert PRIORITY_MATRIX[(Impact(impact), Urgency(urgency))] == priority, (impact, urgency)


def test_every_setting_is_documented():
    """docs/settings.md (or neo4j-local.md, for the launcher's own) names every setting's variable."""
    from pathlib import Path

    from cmdb_graph.settings import Settings

    docs = Path(__file__).parents[1] / "docs"
    text = (docs / "settings.md").read_text() + (docs / "neo4j-local.md").read_text()
    missing = [name for name, f in Settings.model_fields.items()
               if (f.alias or f"CMDB_GRAPH_{name}").upper() not in text and name.upper() not in text]
    assert missing == []
