"""Constraints and indexes: created once, idempotently, and enforced."""

from __future__ import annotations

import pytest
from neo4j.exceptions import ConstraintError

from cmdb_graph.model import Label
from cmdb_graph.schema import UNIQUE_ID_LABELS, init_schema, schema_ready
from cmdb_graph.store import Store


def test_init_is_idempotent_and_creates_every_constraint(store: Store):
    first = init_schema(store.driver, store.database)
    second = init_schema(store.driver, store.database)
    assert first == second
    for label in UNIQUE_ID_LABELS:
        assert f"{label.value.lower()}_id" in first
    assert {"ci_name", "audit_entity", "knowledge_text"} <= set(first)
    assert schema_ready(store.driver, store.database)


@pytest.mark.parametrize("label", [Label.CI, Label.INCIDENT, Label.TEAM])
def test_ids_are_unique(store: Store, label: Label):
    store.driver.execute_query(f"CREATE (:{label.value} {{id: 'same'}})")
    with pytest.raises(ConstraintError):
        store.driver.execute_query(f"CREATE (:{label.value} {{id: 'same'}})")
