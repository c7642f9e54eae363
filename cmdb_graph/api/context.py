"""Per-request context: the reader (with its round-trip count), the DataLoaders, the store for
writes, and who is asking. Nothing here outlives a request."""

from __future__ import annotations

from functools import partial
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from cmdb_graph.api import reads
from cmdb_graph.api.errors import ApiError, Code
from cmdb_graph.model import RECORD_SECTIONS, Label, RecordRel
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store

LINK_TYPES: dict[Label, list[str]] = {
    model.label: [rel.value for rel, _target in model.edges.values()] for model in RECORD_SECTIONS.values()
}


def _in_key_order(keys: list[str], found: dict[str, Any], default: Any = None) -> list[Any]:
    return [found.get(key, default() if callable(default) else default) for key in keys]


class Loaders:
    """One DataLoader per relation a list can fetch, created on first use in a request."""

    def __init__(self, reader: reads.Reader) -> None:
        self.reader = reader
        self.ci: DataLoader[str, dict[str, Any] | None] = DataLoader(self._cis)
        self.depends_on: DataLoader[str, list[dict[str, Any]]] = DataLoader(partial(self._relationships, True))
        self.dependents: DataLoader[str, list[dict[str, Any]]] = DataLoader(partial(self._relationships, False))
        self.history: DataLoader[str, list[dict[str, Any]]] = DataLoader(self._history)
        self._records: dict[Label, DataLoader[str, dict[str, Any] | None]] = {}
        self._links: dict[Label, DataLoader[str, dict[str, list[str]]]] = {}
        self._of_ci: dict[tuple[Label, RecordRel], DataLoader[str, list[dict[str, Any]]]] = {}

    async def _cis(self, ids: list[str]) -> list[dict[str, Any] | None]:
        return _in_key_order(ids, await reads.cis_by_id(self.reader, ids))

    async def _relationships(self, outgoing: bool, ids: list[str]) -> list[list[dict[str, Any]]]:
        return _in_key_order(ids, await reads.relationships_of(self.reader, ids, outgoing), list)

    async def _history(self, ids: list[str]) -> list[list[dict[str, Any]]]:
        return _in_key_order(ids, await reads.history_of(self.reader, ids), list)

    async def ci_or_fail(self, ci_id: str) -> Any:
        from cmdb_graph.api.types import ci_from_props

        props = await self.ci.load(ci_id)
        if props is None:
            raise ApiError(Code.NOT_FOUND, f"CI {ci_id!r} no longer exists")
        return ci_from_props(props)

    def records(self, label: Label) -> DataLoader[str, dict[str, Any] | None]:
        if label not in self._records:
            async def load(ids: list[str]) -> list[dict[str, Any] | None]:
                return _in_key_order(ids, await reads.records_by_id(self.reader, label, ids))

            self._records[label] = DataLoader(load)
        return self._records[label]

    def record_links(self, label: Label) -> DataLoader[str, dict[str, list[str]]]:
        if label not in self._links:
            async def load(ids: list[str]) -> list[dict[str, list[str]]]:
                return _in_key_order(ids, await reads.record_links(self.reader, label, ids, LINK_TYPES[label]), dict)

            self._links[label] = DataLoader(load)
        return self._links[label]

    def records_of_ci(self, label: Label, rel: RecordRel) -> DataLoader[str, list[dict[str, Any]]]:
        if (label, rel) not in self._of_ci:
            async def load(ids: list[str]) -> list[list[dict[str, Any]]]:
                return _in_key_order(ids, await reads.records_of_cis(self.reader, label, rel, ids), list)

            self._of_ci[(label, rel)] = DataLoader(load)
        return self._of_ci[(label, rel)]


class Context(BaseContext):
    def __init__(self, reader: reads.Reader, store: Store, settings: Settings, principal: Any, metrics: Any = None) -> None:
        """`principal`: who the request acts for (`api.permissions.Principal`); None only
        for the GraphiQL page, which runs nothing."""
        super().__init__()
        self.reader = reader
        self.loaders = Loaders(reader)
        self.store = store
        self.settings = settings
        self.principal = principal
        self.metrics = metrics
        self.analysis_slots: Any = None  # the service's limiter for analyses (None: anyio's default pool)

    @property
    def actor(self) -> str:
        """How audit entries name this request's writes: its key."""
        return self.principal.actor
