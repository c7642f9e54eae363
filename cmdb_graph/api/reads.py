"""The reads the GraphQL API makes, over the async driver, each in a read transaction (so a
cluster serves them from its secondaries). Every query here takes a list of keys: DataLoaders
batch one request's lookups into one round trip per relation."""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from neo4j import AsyncDriver, AsyncManagedTransaction, unit_of_work

from cmdb_graph.model import RECORD_SECTIONS, Label, RecordRel, temporal_fields


def _projection(variable: str, temporal: list[str]) -> str:
    """A map projection that sends temporal values as ISO strings and leaves out the sync
    bookkeeping the API never shows. The driver's DateTime hydration costs about 0.1 ms per
    value in Python; parsing an ISO string is twenty times cheaper. Keys come from the model."""
    parts = [".*", "first_seen: null", "last_seen: null"]
    parts += [f"`{name}`: toString({variable}.`{name}`)" for name in ["created_at", "updated_at", *temporal]]
    return f"{variable} {{{', '.join(parts)}}}"


CI_PROPS = _projection("n", [])
RECORD_PROPS = {model.label: _projection("n", temporal_fields(model)) for model in RECORD_SECTIONS.values()}


@dataclass
class Reader:
    """One request's access to Neo4j; counts round trips so tests can pin the N+1 behaviour."""

    driver: AsyncDriver
    database: str
    round_trips: int = 0
    timeout: float | None = None  # bounds each transaction (the service's per-request limit)

    async def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        self.round_trips += 1

        @unit_of_work(timeout=self.timeout)
        async def work(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(query, params)
            return [record.data() async for record in result]

        async with self.driver.session(database=self.database) as session:
            return await session.execute_read(work)

    async def single(self, query: str, **params: Any) -> dict[str, Any]:
        """The one row of a query that aggregates its answer with collect(). Each record costs
        the Python driver tens of microseconds, so one row of lists is several times faster
        than the same data as many rows."""
        return (await self.rows(query, **params))[0]


def _grouped(rows: list[dict[str, Any]], value: str | None = None) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row["key"]].append(row[value] if value else row)
    return grouped


# --- CIs ----------------------------------------------------------------------------------

CIS_BY_ID = f"UNWIND $ids AS id MATCH (n:CI {{id: id}}) RETURN collect({CI_PROPS}) AS rows"


async def cis_by_id(reader: Reader, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {props["id"]: props for props in (await reader.single(CIS_BY_ID, ids=ids))["rows"]}


DEPENDENCIES_OF = """
UNWIND $ids AS id
MATCH (a:CI {id: id})-[r]->(b:CI)
WITH id, a, r, b ORDER BY id, type(r), b.id
RETURN collect({key: id, source: a.id, target: b.id, type: type(r), strength: r.strength, version: r.version,
                data_source: r.source, last_seen: toString(r.last_seen), reported_by: r.reported_by,
                observed_at: toString(r.observed_at), observed_calls: r.observed_calls}) AS rows
"""

DEPENDENTS_OF = """
UNWIND $ids AS id
MATCH (a:CI)-[r]->(b:CI {id: id})
WITH id, a, r, b ORDER BY id, type(r), a.id
RETURN collect({key: id, source: a.id, target: b.id, type: type(r), strength: r.strength, version: r.version,
                data_source: r.source, last_seen: toString(r.last_seen), reported_by: r.reported_by,
                observed_at: toString(r.observed_at), observed_calls: r.observed_calls}) AS rows
"""


async def relationships_of(reader: Reader, ids: list[str], outgoing: bool) -> dict[str, list[dict[str, Any]]]:
    rows = (await reader.single(DEPENDENCIES_OF if outgoing else DEPENDENTS_OF, ids=ids))["rows"]
    return _grouped(rows)


CI_FILTER = """
WHERE ($ci_class IS NULL OR n.ci_class = $ci_class)
  AND ($layer IS NULL OR n.layer = $layer)
  AND ($status IS NULL OR n.status = $status)
  AND ($environment IS NULL OR n.environment = $environment)
  AND ($criticality IS NULL OR n.criticality = $criticality)
  AND ($owner IS NULL OR n.owner = $owner)
  AND ($name_contains IS NULL OR toLower(n.name) CONTAINS toLower($name_contains))
"""

CI_PAGE = f"""
CALL {{ MATCH (n:CI) {CI_FILTER} RETURN count(n) AS total }}
CALL {{
  MATCH (n:CI) {CI_FILTER} AND ($after IS NULL OR n.id > $after)
  WITH n ORDER BY n.id LIMIT $limit
  RETURN collect({CI_PROPS}) AS rows
}}
RETURN total, rows
"""


async def ci_page(reader: Reader, filters: dict[str, Any], after: str | None, first: int) -> tuple[list[dict[str, Any]], bool, int]:
    """A page ordered by id (keyset pagination: no gaps or duplicates while pages are read),
    whether more follow, and the total matching the filter; one round trip."""
    found = await reader.single(CI_PAGE, after=after, limit=first + 1, **filters)
    rows = found["rows"]
    return rows[:first], len(rows) > first, found["total"]


# --- records ------------------------------------------------------------------------------

def _records_by_id_query(label: Label) -> str:
    return f"UNWIND $ids AS id MATCH (n:{Label(label).value} {{id: id}}) RETURN collect({RECORD_PROPS[label]}) AS rows"


RECORDS_BY_ID = {label: _records_by_id_query(label) for label in RECORD_PROPS}


async def records_by_id(reader: Reader, label: Label, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = (await reader.single(RECORDS_BY_ID[Label(label)], ids=ids))["rows"]
    return {props["id"]: props for props in rows}


def _links_query(label: Label) -> str:
    return f"""
UNWIND $ids AS id
MATCH (n:{Label(label).value} {{id: id}})-[r]->(t)
WHERE type(r) IN $types
WITH id, r, t ORDER BY id, type(r), t.id
RETURN collect({{key: id, type: type(r), target: t.id}}) AS rows
"""


LINKS = {label: _links_query(label) for label in RECORD_PROPS}


async def record_links(reader: Reader, label: Label, ids: list[str], types: list[str]) -> dict[str, dict[str, list[str]]]:
    """For each record id: relationship type -> target ids."""
    links: dict[str, dict[str, list[str]]] = {i: defaultdict(list) for i in ids}
    for row in (await reader.single(LINKS[Label(label)], ids=ids, types=types))["rows"]:
        links[row["key"]][row["type"]].append(row["target"])
    return links


def _records_of_ci_query(label: Label, rel: RecordRel) -> str:
    return f"""
UNWIND $ids AS id
MATCH (c:CI {{id: id}})<-[:{RecordRel(rel).value}]-(n:{Label(label).value})
WITH id, n ORDER BY id, n.id
RETURN collect({{key: id, props: {RECORD_PROPS[label]}}}) AS rows
"""


RECORDS_OF_CI = {
    (model.label, rel): _records_of_ci_query(model.label, rel)
    for model in RECORD_SECTIONS.values() for rel, _target in model.edges.values()
}


async def records_of_cis(reader: Reader, label: Label, rel: RecordRel, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows = (await reader.single(RECORDS_OF_CI[(Label(label), RecordRel(rel))], ids=ids))["rows"]
    return _grouped(rows, "props")


def _record_page_query(label: Label) -> str:
    match = f"MATCH (n:{Label(label).value})"
    where = """
WHERE all(key IN keys($equals) WHERE n[key] = $equals[key])
  AND ($text IS NULL OR any(key IN $text_fields WHERE toLower(toString(n[key])) CONTAINS toLower($text)))
  AND ($ci IS NULL OR EXISTS { MATCH (n)-[r]->(:CI {id: $ci}) WHERE type(r) IN $ci_types })
  AND ($open_statuses IS NULL OR n.status IN $open_statuses)
"""
    return f"""
CALL {{ {match} {where} RETURN count(n) AS total }}
CALL {{
  {match} {where} AND ($after IS NULL OR n.id > $after)
  WITH n ORDER BY n.id LIMIT $limit
  RETURN collect({RECORD_PROPS[label]}) AS rows
}}
RETURN total, rows
"""


RECORD_PAGES = {label: _record_page_query(label) for label in RECORD_PROPS}


async def record_page(
    reader: Reader, label: Label, *, equals: dict[str, Any], text: str | None, text_fields: list[str],
    ci: str | None, ci_types: list[str], open_statuses: list[str] | None, after: str | None, first: int,
) -> tuple[list[dict[str, Any]], bool, int]:
    found = await reader.single(
        RECORD_PAGES[Label(label)], equals=equals, text=text, text_fields=text_fields, ci=ci, ci_types=ci_types,
        open_statuses=open_statuses, after=after, limit=first + 1,
    )
    rows = found["rows"]
    return rows[:first], len(rows) > first, found["total"]


# --- history --------------------------------------------------------------------------------

HISTORY_OF = """
UNWIND $ids AS id
MATCH (e:AuditEntry {entity_id: id})
WITH id, e ORDER BY id, e.at DESC, e.version DESC
RETURN collect({key: id, props: e {.*, at: toString(e.at)}}) AS rows
"""


async def history_of(reader: Reader, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    return _grouped((await reader.single(HISTORY_OF, ids=ids))["rows"], "props")


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


# --- search -------------------------------------------------------------------------------

# Every word of the text must appear in the id or the name (case-insensitive); an exact match
# first, then a prefix of the id or name, then the rest, each by name (case-insensitive). A scan of the CIs: the
# type-ahead asks for a few at a time.
SEARCH_CIS = f"""
MATCH (n:CI)
WITH n, toLower(n.id) AS id, toLower(coalesce(n.name, '')) AS name
WHERE all(word IN $words WHERE id CONTAINS word OR name CONTAINS word)
WITH n, CASE WHEN id = $text OR name = $text THEN 0
             WHEN id STARTS WITH $text OR name STARTS WITH $text THEN 1
             ELSE 2 END AS rank
ORDER BY rank, name, n.id LIMIT $limit
RETURN collect({CI_PROPS}) AS rows
"""


async def search_cis(reader: Reader, text: str, first: int) -> list[dict[str, Any]]:
    """CIs whose id or name holds every word of `text`, best first."""
    wanted = " ".join(text.lower().split())
    return (await reader.single(SEARCH_CIS, text=wanted, words=wanted.split(" "), limit=first))["rows"]
