"""Search of the knowledge base: articles and known errors, through Neo4j's full-text index
`knowledge_text` (titles, bodies, symptoms, root causes, workarounds)."""

from __future__ import annotations

import re

from pydantic import BaseModel

from cmdb_graph.model import Label, RecordRel
from cmdb_graph.store import Store

MAX_HITS = 100
# Lucene's query syntax: what a user types is searched as plain words, never as syntax
# (`ORA-01555` must not mean "ORA but not 01555").
LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
LUCENE_OPERATORS = {"AND", "OR", "NOT", "TO"}


class KnowledgeHit(BaseModel):
    kind: str  # "KnowledgeArticle" or "KnownError"
    id: str
    title: str
    score: float
    workaround: str | None = None
    ci_ids: list[str] = []


class KnowledgeSearchError(ValueError):
    pass


def lucene_query(text: str) -> str:
    """The words of `text`, each escaped; Lucene ranks documents holding more of them higher."""
    words = [LUCENE_SPECIAL.sub(r"\\\1", word) for word in text.split()]
    words = [word.lower() if word in LUCENE_OPERATORS else word for word in words]
    if not words:
        raise KnowledgeSearchError("give at least one word to search for")
    return " ".join(words)


SEARCH_KNOWLEDGE = f"""
CALL db.index.fulltext.queryNodes('knowledge_text', $words) YIELD node, score
WHERE node:{Label.KNOWLEDGE_ARTICLE.value} OR node.known_error = true
RETURN CASE WHEN node:{Label.KNOWLEDGE_ARTICLE.value} THEN 'KnowledgeArticle' ELSE 'KnownError' END AS kind,
       node.id AS id, node.title AS title, score, node.workaround AS workaround,
       [(node)-[:{RecordRel.ABOUT.value}|{RecordRel.ROOT_CAUSE_IN.value}]->(ci:{Label.CI.value}) | ci.id] AS ci_ids
ORDER BY score DESC, id
LIMIT $limit
"""


def search_knowledge(store: Store, text: str, limit: int = 20) -> list[KnowledgeHit]:
    """Knowledge articles and known errors matching `text`, best first, with the CIs each is
    about (an article's `about`, a known error's root-cause CIs)."""
    if not 1 <= limit <= MAX_HITS:
        raise KnowledgeSearchError(f"limit must be between 1 and {MAX_HITS}")
    rows = store.rows(SEARCH_KNOWLEDGE, words=lucene_query(text), limit=limit)
    return [KnowledgeHit(**{**row, "ci_ids": sorted(row["ci_ids"])}) for row in rows]
