"""All configuration, read once from the environment (and an optional `.env`)."""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NEO4J_VERSION = "5.26.30"


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user database entry, e.g. in a minimal container
        return "cli"


# Source trust for confidence: discovered beats declared, declared by a tool beats typed in.
DEFAULT_SOURCE_TRUST: dict[str, float] = {
    "kubernetes": 0.95, "traces": 0.9, "compose": 0.85, "netbox": 0.85, "servicenow": 0.75, "backstage": 0.75,
    "csv": 0.7, "native": 0.6, "api": 0.6, "demo": 0.6,
}


class Settings(BaseSettings):
    """One settings class for the CLI, the service and the tests.

    `NEO4J_URI`, `NEO4J_USER` and `NEO4J_PASSWORD` keep the names every Neo4j tool uses;
    everything else is prefixed `CMDB_GRAPH_`.
    """

    model_config = SettingsConfigDict(env_prefix="CMDB_GRAPH_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path.home() / ".cmdb-graph", description="data and state of the local Neo4j")
    cache_dir: Path = Field(default=Path.home() / ".cache" / "cmdb-graph", description="resolved Neo4j jars")

    neo4j_uri: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_URI", "CMDB_GRAPH_NEO4J_URI"))
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "CMDB_GRAPH_NEO4J_USER"))
    neo4j_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "CMDB_GRAPH_NEO4J_PASSWORD")
    )
    neo4j_password_file: Path | None = Field(default=None, description="a file holding the Neo4j password")
    neo4j_database: str = "neo4j"

    use_docker: bool = Field(default=True, description="try testcontainers when a Docker engine answers")

    neo4j_version: str = NEO4J_VERSION
    bolt_host: str = "127.0.0.1"
    bolt_port: int = Field(default=7687, ge=1, le=65535)
    neo4j_heap: str = Field(default="1g", pattern=r"^[0-9]+[kmgKMG]$")
    neo4j_pagecache_mb: int = Field(default=512, ge=16)
    neo4j_tx_timeout_seconds: int = Field(default=120, ge=1)
    neo4j_start_timeout_seconds: int = Field(default=180, ge=5)
    neo4j_config: dict[str, str] = Field(
        default_factory=dict,
        description="extra Neo4j settings for the local server, e.g. {\"db.logs.query.enabled\": \"OFF\"}",
    )

    batch_size: int = Field(default=2000, ge=1, le=50_000)
    bulk_batch_rows: int = Field(default=10_000, ge=100, le=200_000,
                                 description="rows per transaction of a bulk load (`cmdb-graph load --bulk`)")
    bulk_writers: int = Field(default=2, ge=1, le=16, description="transactions a bulk load runs at once")
    bulk_auto_bytes: int = Field(default=50_000_000, ge=0,
                                 description="a load whose CSV files are larger than this is a bulk load")
    import_commit_rows: int = Field(
        default=5_000, ge=1,
        description="an import of at most this many rows is one transaction; a larger one commits every this many rows",
    )
    import_timeout_seconds: float = Field(
        default=3600, ge=1, description="bounds each of an import's transactions (the server default is shorter)"
    )
    cleanup_max_share: float = Field(
        default=0.2, ge=0.0, le=1.0,
        description="an import refuses to retire more than this share of its source's CIs without --allow-large-cleanup",
    )

    confidence_source_trust: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SOURCE_TRUST),
        description="how far each source is trusted (0-1) when it reports a relationship; see docs/analyses.md",
    )
    confidence_default_trust: float = Field(default=0.5, ge=0, le=1,
                                            description="the trust of a source the table above does not name")
    confidence_half_life_days: float = Field(
        default=180.0, gt=0, description="a relationship's confirmation counts half as much after this many days",
    )
    traces_unobserved_days: float = Field(
        default=30.0, gt=0,
        description="a declared dependency of a traced service not seen in traces for this long is reported",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64,
                             description="service processes; each has its own drivers, metrics count per process")
    api_max_depth: int = Field(default=12, ge=2, le=50)
    api_max_aliases: int = Field(default=30, ge=1, le=1000)
    api_max_cost: int = Field(default=100_000, ge=100,
                              description="the most fields an operation may resolve, counting each list at its page size")
    api_max_body_bytes: int = Field(default=1_000_000, ge=1_000, description="the largest request body")
    api_tx_timeout_seconds: float = Field(default=30.0, gt=0,
                                          description="bounds each Neo4j transaction a request opens")
    api_analysis_slots: int = Field(default=4, ge=1, le=64,
                                    description="analyses a service process runs at once; more wait for a slot")
    api_write_budget_seconds: float = Field(
        default=20.0, gt=0, description="bounds a write request's whole time in Neo4j, retries of deadlocks and "
                                        "lock waits included; past it the write answers CONFLICT and is not applied")
    api_retry_seconds: float = Field(default=5.0, ge=0, description="how long a request retries a lost Neo4j")
    api_auth: bool = Field(default=True, description="require an API key (`Authorization: Bearer`); off only for "
                                                     "a service nobody else can reach")
    api_key_cache_seconds: float = Field(default=5.0, ge=0,
                                         description="how long a checked key is trusted; a revoked key stops within this")
    api_actor: str = Field(default="api", description="the name audit entries give writes when api_auth is off")
    actor: str = Field(default_factory=_default_actor)

    @field_validator("confidence_source_trust")
    @classmethod
    def _trust_between_0_and_1(cls, trust: dict[str, float]) -> dict[str, float]:
        wrong = sorted(name for name, value in trust.items() if not 0 <= value <= 1)
        if wrong:
            raise ValueError(f"trust is between 0 and 1 (not so for {', '.join(wrong)})")
        return trust

    @field_validator("bolt_host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the local Neo4j binds to a loopback address only")
        return host

    def password_from_file(self) -> SecretStr | None:
        if self.neo4j_password_file is None:
            return None
        return SecretStr(self.neo4j_password_file.read_text(encoding="utf-8").strip())
