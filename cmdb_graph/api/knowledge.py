"""GraphQL: search of the knowledge base (articles and known errors)."""

from __future__ import annotations

import asyncio

import anyio
import strawberry
from strawberry.types import Info

from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import validation_error
from cmdb_graph.api.types import CI
from cmdb_graph.knowledge import MAX_HITS, KnowledgeSearchError, search_knowledge


@strawberry.type(description="A knowledge article or a known error that matches a search")
class KnowledgeHit:
    kind: str = strawberry.field(description="KnowledgeArticle or KnownError")
    id: strawberry.ID
    title: str
    score: float = strawberry.field(description="full-text relevance; higher is better")
    workaround: str | None
    ci_ids: strawberry.Private[list[str]]

    @strawberry.field(description="the CIs it is about (a known error: where its root cause is)")
    async def cis(self, info: Info[Context, None]) -> list[CI]:
        return list(await asyncio.gather(*(info.context.loaders.ci_or_fail(ci_id) for ci_id in self.ci_ids)))


@strawberry.type
class KnowledgeQuery:
    @strawberry.field(description="Knowledge articles and known errors matching the words of `text`, best first")
    async def search_knowledge(self, info: Info[Context, None], text: str, first: int = 20) -> list[KnowledgeHit]:
        if not 1 <= first <= MAX_HITS:
            message = f"first must be between 1 and {MAX_HITS}"
            raise validation_error(message, fields=[{"field": "first", "message": message}])
        try:
            hits = await anyio.to_thread.run_sync(lambda: search_knowledge(info.context.store, text, first))
        except KnowledgeSearchError as error:
            raise validation_error(str(error), fields=[{"field": "text", "message": str(error)}]) from error
        return [KnowledgeHit(kind=h.kind, id=strawberry.ID(h.id), title=h.title, score=h.score,
                             workaround=h.workaround, ci_ids=h.ci_ids) for h in hits]
