"""Constraints and indexes, declared as data; `init_schema` creates them idempotently."""

from __future__ import annotations

from neo4j import Driver

from cmdb_graph.model import CIClass, Label

UNIQUE_ID_LABELS: tuple[Label, ...] = tuple(label for label in Label if label is not Label.AUDIT_ENTRY)

# (index name, label, properties)
PROPERTY_INDEXES: tuple[tuple[str, Label, tuple[str, ...]], ...] = (
    ("ci_name", Label.CI, ("name",)),
    ("ci_class", Label.CI, ("ci_class",)),
    ("ci_serial_number", Label.CI, ("serial_number",)),
    ("ci_fqdn", Label.CI, ("fqdn",)),
    ("ci_source", Label.CI, ("source",)),
    ("audit_entity", Label.AUDIT_ENTRY, ("entity_id", "at")),
    ("incident_status", Label.INCIDENT, ("status",)),
    ("change_window", Label.CHANGE, ("planned_start",)),
)


def schema_statements() -> list[str]:
    """The DDL, built only from enum members (DDL cannot take parameters for names)."""
    statements = [
        f"CREATE CONSTRAINT {label.value.lower()}_id IF NOT EXISTS "
        f"FOR (n:{label.value}) REQUIRE n.id IS UNIQUE"
        for label in UNIQUE_ID_LABELS
    ]
    statements.append(
        f"CREATE CONSTRAINT auditentry_id IF NOT EXISTS FOR (n:{Label.AUDIT_ENTRY.value}) REQUIRE n.id IS UNIQUE"
    )
    for name, label, properties in PROPERTY_INDEXES:
        columns = ", ".join(f"n.{prop}" for prop in properties)
        statements.append(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label.value}) ON ({columns})")
    for ci_class in CIClass:
        statements.append(
            f"CREATE INDEX {ci_class.value.lower()}_id IF NOT EXISTS FOR (n:{ci_class.value}) ON (n.id)"
        )
    statements.append(
        "CREATE FULLTEXT INDEX knowledge_text IF NOT EXISTS "
        f"FOR (n:{Label.KNOWLEDGE_ARTICLE.value}|{Label.PROBLEM.value}) ON EACH [n.title, n.body, n.symptoms, n.root_cause, n.workaround]"
    )
    return statements


CONSTRAINT_NAMES = "SHOW CONSTRAINTS YIELD name RETURN name"
INDEX_NAMES = "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"


def init_schema(driver: Driver, database: str) -> list[str]:
    """Create what is missing; return the names of all constraints and indexes afterwards."""
    with driver.session(database=database) as session:
        for statement in schema_statements():
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(300)").consume()
    names: set[str] = set()
    for query in (CONSTRAINT_NAMES, INDEX_NAMES):
        records, _, _ = driver.execute_query(query, database_=database, routing_="r")
        names.update(record["name"] for record in records)
    return sorted(names)


def schema_ready(driver: Driver, database: str) -> bool:
    records, _, _ = driver.execute_query(
        "SHOW CONSTRAINTS YIELD name WHERE name = 'ci_id' RETURN count(*) AS n", database_=database, routing_="r"
    )
    return records[0]["n"] == 1


DELETE_EVERYTHING = """
MATCH (n)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS
"""


def reset_database(driver: Driver, database: str) -> None:
    """Empty the database; constraints and indexes stay."""
    with driver.session(database=database) as session:
        session.run(DELETE_EVERYTHING).consume()
