"""Which Neo4j to talk to: `NEO4J_URI` if set; else testcontainers' Neo4j where a Docker
engine answers; else the project's local launcher. The CLI, the service and the tests all
resolve through `resolve_neo4j`, so they never disagree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from neo4j import AsyncDriver, AsyncGraphDatabase, Driver, GraphDatabase

from cmdb_graph.neo4j_local import LocalNeo4j
from cmdb_graph.settings import Settings

log = logging.getLogger(__name__)

NEO4J_IMAGE = "neo4j:5.26-community"


@dataclass
class Neo4jTarget:
    uri: str
    user: str
    password: str = field(repr=False)
    origin: str  # "environment", "testcontainers" or "local"
    database: str = "neo4j"
    release: Callable[[], None] = field(default=lambda: None, repr=False)

    def driver(self, max_retry_seconds: float = 30.0) -> Driver:
        return GraphDatabase.driver(
            self.uri, auth=(self.user, self.password), user_agent="cmdb-graph", notifications_min_severity="OFF",
            max_transaction_retry_time=max_retry_seconds, connection_timeout=10.0,
        )

    def async_driver(self, max_retry_seconds: float = 30.0) -> AsyncDriver:
        return AsyncGraphDatabase.driver(
            self.uri, auth=(self.user, self.password), user_agent="cmdb-graph", notifications_min_severity="OFF",
            max_transaction_retry_time=max_retry_seconds, connection_timeout=10.0,
        )


def docker_engine_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no engine: all mean "no Docker here"
        return False


def resolve_neo4j(settings: Settings, progress: Callable[[str], None] | None = None) -> Neo4jTarget:
    if settings.neo4j_uri:
        secret = settings.neo4j_password or settings.password_from_file()
        return Neo4jTarget(
            uri=settings.neo4j_uri,
            user=settings.neo4j_user,
            password=secret.get_secret_value() if secret else "",
            origin="environment",
            database=settings.neo4j_database,
        )
    if settings.use_docker and docker_engine_answers():
        return _testcontainers_neo4j(settings)
    local = LocalNeo4j(settings, progress=progress)
    status = local.start()
    return Neo4jTarget(
        uri=status.uri or "", user="neo4j", password=local.password(), origin="local", database="neo4j"
    )


def _testcontainers_neo4j(settings: Settings) -> Neo4jTarget:
    """A throwaway Neo4j container living as long as this process (data is not kept)."""
    try:
        from testcontainers.community.neo4j import Neo4jContainer
    except ImportError:  # testcontainers < 4.10
        from testcontainers.neo4j import Neo4jContainer

    password = (settings.neo4j_password.get_secret_value() if settings.neo4j_password else "cmdb-graph-test")
    container = Neo4jContainer(image=NEO4J_IMAGE, password=password)
    container.start()
    return Neo4jTarget(
        uri=container.get_connection_url(),
        user="neo4j",
        password=password,
        origin="testcontainers",
        release=container.stop,
    )
