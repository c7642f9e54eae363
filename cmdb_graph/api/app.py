"""The FastAPI application: `create_app()` builds it from settings; one lifespan opens and
closes the Neo4j drivers. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from neo4j.exceptions import ServiceUnavailable, SessionExpired
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from strawberry.fastapi import GraphQLRouter

from cmdb_graph import __version__, web
from cmdb_graph.api import reads
from cmdb_graph.access.roles import Role
from cmdb_graph.api.context import Context
from cmdb_graph.api.errors import UNAVAILABLE_MESSAGE, Code
from cmdb_graph.api.limits import BodySizeLimit
from cmdb_graph.api.permissions import KeyCache, Principal, Unauthenticated, bearer_secret
from cmdb_graph.api.schema import build_schema
from cmdb_graph.connection import Neo4jTarget, resolve_neo4j
from cmdb_graph.settings import Settings
from cmdb_graph.store import Store


class Metrics:
    """Request counts and latencies per GraphQL operation, in the app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cmdb_graph_graphql_requests", "GraphQL operations served", ["operation", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "cmdb_graph_graphql_request_seconds", "GraphQL operation latency", ["operation"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.refused = Counter(
            "cmdb_graph_requests_refused", "GraphQL requests answered before running: no valid key, or no Neo4j to "
            "check it against", ["reason"], registry=self.registry,
        )

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        self.requests.labels(operation, outcome).inc()
        self.latency.labels(operation).observe(seconds)


class _Assets(StaticFiles):
    """The bundle's files; before the page is built there are none, so every asset is a 404
    rather than the error Starlette raises for a missing folder."""

    async def check_config(self) -> None:
        if self.directory is not None and Path(self.directory).is_dir():
            await super().check_config()


def create_app(settings: Settings | None = None, target: Neo4jTarget | None = None) -> FastAPI:
    """The service. Without `target`, Neo4j is resolved at startup like everywhere else
    (NEO4J_URI, testcontainers, or the local launcher)."""
    config = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = target or await anyio.to_thread.run_sync(resolve_neo4j, config)
        async_driver = resolved.async_driver(config.api_retry_seconds)
        # Writes go through the store's one write path (plan, audit, all-or-nothing), which
        # uses the synchronous driver; mutations run it in a worker thread.
        sync_driver = resolved.driver(config.api_retry_seconds)
        app.state.target = resolved
        # analyses are CPU-bound Python: a burst of them waits for a slot instead of taking
        # every worker thread from the writes and the other requests
        app.state.analysis_slots = anyio.CapacityLimiter(config.api_analysis_slots)
        app.state.async_driver = async_driver
        app.state.store = Store(sync_driver, resolved.database, config.batch_size, tx_timeout=config.api_tx_timeout_seconds,
                                write_budget=config.api_write_budget_seconds,
                                unavailable_retry=config.api_retry_seconds)
        try:
            yield
        finally:
            await async_driver.close()
            sync_driver.close()
            if target is None:
                resolved.release()

    app = FastAPI(title="cmdb-graph", version=__version__, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=config.api_max_body_bytes)
    keys = KeyCache(config.api_key_cache_seconds)
    service = Principal(name=config.api_actor, role=Role.ADMIN, actor=config.api_actor)

    async def principal(request: Request) -> Principal | None:
        if not config.api_auth:
            return service
        if request.method == "GET" and "query" not in request.query_params:
            return None  # the GraphiQL page itself; its queries come back with the key
        state = request.app.state
        secret = bearer_secret(request.headers.get("authorization"))
        return await keys.principal(state.async_driver, state.target.database, secret)

    async def context(request: Request, response: Response) -> Context:
        state = request.app.state
        reader = reads.Reader(state.async_driver, state.target.database, timeout=config.api_tx_timeout_seconds)
        context = Context(reader, state.store, config, await principal(request), metrics)
        context.analysis_slots = state.analysis_slots
        return context

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, error: Unauthenticated) -> JSONResponse:
        metrics.refused.labels("unauthenticated").inc()
        return JSONResponse({"errors": [{"message": str(error), "extensions": {"code": Code.UNAUTHENTICATED.value}}]},
                            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="cmdb-graph"'})

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        # the key lookup found Neo4j gone: the same answer a query would get, with 503
        metrics.refused.labels("unavailable").inc()
        return JSONResponse({"errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": {"code": Code.UNAVAILABLE.value}}]},
                            status_code=503)

    app.add_exception_handler(ServiceUnavailable, database_unavailable)
    app.add_exception_handler(SessionExpired, database_unavailable)

    schema = build_schema(max_depth=config.api_max_depth, max_aliases=config.api_max_aliases, max_cost=config.api_max_cost)
    app.include_router(GraphQLRouter(schema, context_getter=context), prefix="/graphql")

    # The impact map: a static page that asks for a key and then talks only to /graphql, so
    # the page and its assets need none.
    @app.get("/", include_in_schema=False, response_model=None)
    async def impact_map() -> FileResponse | HTMLResponse:
        if not web.PAGE.is_file():
            return HTMLResponse(web.NOT_BUILT, status_code=503)
        return FileResponse(web.PAGE, headers={"Cache-Control": "no-cache"})

    app.mount("/assets", _Assets(directory=web.ASSETS, check_dir=False), name="impact-map-assets")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        reader = reads.Reader(request.app.state.async_driver, request.app.state.target.database)
        try:
            with anyio.fail_after(5):
                initialised = await reads.schema_initialised(reader)
        except Exception as error:  # unreachable, refused, timed out: all mean not ready
            return JSONResponse({"status": "unavailable", "reason": type(error).__name__}, status_code=503)
        if not initialised:
            return JSONResponse({"status": "unavailable", "reason": "schema not initialised (cmdb-graph db init)"},
                                status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
