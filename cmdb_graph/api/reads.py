"""The reads the GraphQL API makes, over the async driver, each in a read transaction (so a
cluster serves them from its secondaries). Every query here takes a list of keys: DataLoaders
batch one request's lookups into one round trip per relation."""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from neo4j import AsyncDriver, AsyncManagedTransaction

from cmdb_graph.model import Label, RecordRel


@dataclass
class Reader:
    """One request's access to Neo4j; counts round trips so tests can pin the N+1 behaviour."""

    driver: AsyncDriver
    database: str
    round_trips: int = 0
    queries: list[str] = field(default_factory=list)

    async def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        self.round_trips += 1

        async def work(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(query, params)
            return [record.data() async for record in result]

        async with self.driver.session(database=self.database) as session:
            return await session.execute_read(work)


# --- CIs ----------------------------------------------------------------------------------

CIS_BY_ID = "UNWIND $ids AS id MATCH (n:CI {id: id}) RETURN n.id AS id, properties(n) AS props"


async def cis_by_id(reader: Reader, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["props"] for r in await reader.rows(CIS_BY_ID, ids=ids)}


DEPENDENCIES_OF = """
UNWIND $ids AS id
MATCH (a:CI {id: id})-[r]->(b:CI)
RETURN id AS key, a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
ORDER BY key, type, target
"""

DEPENDENTS_OF = """
UNWIND $ids AS id
MATCH (a:CI)-[r]->(b:CI {id: id})
RETURN id AS key, a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
ORDER BY key, type, source
"""


async def relationships_of(reader: Reader, ids: list[str], outgoing: bool) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await reader.rows(DEPENDENCIES_OF if outgoing else DEPENDENTS_OF, ids=ids):
        grouped[row["key"]].append(row)
    return grouped


CI_FILTER = """
WHERE ($ci_class IS NULL OR n.ci_class = $ci_class)
  AND ($layer IS NULL OR n.layer = $layer)
  AND ($status IS NULL OR n.status = $status)
  AND ($environment IS NULL OR n.environment = $environment)
  AND ($criticality IS NULL OR n.criticality = $criticality)
  AND ($owner IS NULL OR n.owner = $owner)
  AND ($name_contains IS NULL OR toLower(n.name) CONTAINS toLower($name_contains))
"""

CI_PAGE = (
    "MATCH (n:CI)" + CI_FILTER + " AND ($after IS NULL OR n.id > $after) "
    "RETURN n.id AS id, properties(n) AS props ORDER BY n.id LIMIT $limit"
)
CI_COUNT = "MATCH (n:CI)" + CI_FILTER + " RETURN count(n) AS total"


async def ci_page(reader: Reader, filters: dict[str, Any], after: str | None, first: int) -> tuple[list[dict[str, Any]], bool, int]:
    """A page ordered by id (keyset pagination: no gaps or duplicates while pages are read),
    whether more follow, and the total matching the filter."""
    rows = await reader.rows(CI_PAGE, after=after, limit=first + 1, **filters)
    total = (await reader.rows(CI_COUNT, **filters))[0]["total"]
    return [r["props"] for r in rows[:first]], len(rows) > first, total


# --- records ------------------------------------------------------------------------------

def _records_by_id_query(label: Label) -> str:
    return f"UNWIND $ids AS id MATCH (n:{Label(label).value} {{id: id}}) RETURN n.id AS id, properties(n) AS props"


RECORDS_BY_ID = {label: _records_by_id_query(label) for label in Label}


async def records_by_id(reader: Reader, label: Label, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["props"] for r in await reader.rows(RECORDS_BY_ID[Label(label)], ids=ids)}


def _links_query(label: Label) -> str:
    return f"""
UNWIND $ids AS id
MATCH (n:{Label(label).value} {{id: id}})-[r]->(t)
WHERE type(r) IN $types
RETURN id AS key, type(r) AS type, t.id AS target
ORDER BY key, type, target
"""


LINKS = {label: _links_query(label) for label in Label}


async def record_links(reader: Reader, label: Label, ids: list[str], types: list[str]) -> dict[str, dict[str, list[str]]]:
    """For each record id: relationship type -> target ids."""
    links: dict[str, dict[str, list[str]]] = {i: defaultdict(list) for i in ids}
    for row in await reader.rows(LINKS[Label(label)], ids=ids, types=types):
        links[row["key"]][row["type"]].append(row["target"])
    return links


def _records_of_ci_query(label: Label, rel: RecordRel) -> str:
    return f"""
UNWIND $ids AS id
MATCH (c:CI {{id: id}})<-[:{RecordRel(rel).value}]-(n:{Label(label).value})
RETURN id AS key, properties(n) AS props
ORDER BY key, n.id
"""


async def records_of_cis(reader: Reader, label: Label, rel: RecordRel, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await reader.rows(_records_of_ci_query(label, rel), ids=ids):
        grouped[row["key"]].append(row["props"])
    return grouped


def _record_page_query(label: Label, count: bool) -> str:
    match = f"MATCH (n:{Label(label).value})"
    where = """
WHERE all(key IN keys($equals) WHERE n[key] = $equals[key])
  AND ($text IS NULL OR any(key IN $text_fields WHERE toLower(toString(n[key])) CONTAINS toLower($text)))
  AND ($ci IS NULL OR EXISTS { MATCH (n)-[r]->(:CI {id: $ci}) WHERE type(r) IN $ci_types })
  AND ($open_statuses IS NULL OR n.status IN $open_statuses)
"""
    if count:
        return match + where + " RETURN count(n) AS total"
    return match + where + " AND ($after IS NULL OR n.id > $after) RETURN properties(n) AS props ORDER BY n.id LIMIT $limit"


RECORD_PAGES = {label: (_record_page_query(label, False), _record_page_query(label, True)) for label in Label}


async def record_page(
    reader: Reader, label: Label, *, equals: dict[str, Any], text: str | None, text_fields: list[str],
    ci: str | None, ci_types: list[str], open_statuses: list[str] | None, after: str | None, first: int,
) -> tuple[list[dict[str, Any]], bool, int]:
    page_query, count_query = RECORD_PAGES[Label(label)]
    params = dict(equals=equals, text=text, text_fields=text_fields, ci=ci, ci_types=ci_types,
                  open_statuses=open_statuses)
    rows = await reader.rows(page_query, after=after, limit=first + 1, **params)
    total = (await reader.rows(count_query, **params))[0]["total"]
    return [r["props"] for r in rows[:first]], len(rows) > first, total


# --- history --------------------------------------------------------------------------------

HISTORY_OF = """
UNWIND $ids AS id
MATCH (e:AuditEntry {entity_id: id})
RETURN id AS key, properties(e) AS props
ORDER BY key, e.at DESC, e.version DESC
"""


async def history_of(reader: Reader, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await reader.rows(HISTORY_OF, ids=ids):
        grouped[row["key"]].append(row["props"])
    return grouped


# --- health ---------------------------------------------------------------------------------

READY = "SHOW CONSTRAINTS YIELD name WHERE name = 'ci_id' RETURN count(*) AS n"


async def schema_initialised(reader: Reader) -> bool:
    return (await reader.rows(READY))[0]["n"] == 1


# --- cursors --------------------------------------------------------------------------------

def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"id:{item_id}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("not a cursor this API gave out") from error
    if not text.startswith("id:"):
        raise ValueError("not a cursor this API gave out")
    return text[3:]
