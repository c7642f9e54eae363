"""Synthetic Docker Compose projects: a folder per project holding a compose.yaml, each a shop-like
stack of an nginx proxy, a Postgres database, a Redis cache, two Kafka brokers and application
services that call each other over HTTP, reach the datastores through their environment (URLs
with credentials, `*_HOST`, comma-separated brokers, `${VAR:-default}`) and share named volumes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

APPS_PER_PROJECT = 36
PEERS = (1, 3)  # how many earlier application services an application calls
UPLOADS_EVERY = 5  # every fifth application mounts the shared uploads volume
BUILT_EVERY = 4  # every fourth application is built from source, without an image


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows (CIs plus edges), project after project, in `directory/compose-projects`."""
    rng = random.Random(seed)
    root = directory / "compose-projects"
    root.mkdir(parents=True, exist_ok=True)
    written = number = 0
    while written < rows:
        folder = root / f"stack-{number:04d}"
        folder.mkdir(exist_ok=True)
        project, count = _project(number, rng)
        with (folder / "compose.yaml").open("w", encoding="utf-8") as handle:
            yaml.dump(project, handle, Dumper=yaml.CSafeDumper, sort_keys=False)
        written += count
        number += 1
    return root


def _project(number: int, rng: random.Random) -> tuple[dict[str, Any], int]:
    """The project and its rows: each service and volume is a CI, each distinct need an edge."""
    apps = [f"app-{i:02d}" for i in range(APPS_PER_PROJECT)]
    services: dict[str, Any] = {
        "proxy": {"image": "nginx:1.27-alpine", "ports": ["80:80", "443:443"], "depends_on": apps[:4],
                  "volumes": ["./nginx.conf:/etc/nginx/nginx.conf:ro"]},
        "db": {"image": "postgres:16-alpine", "environment": {"POSTGRES_PASSWORD": "s3cret"},
               "volumes": ["pgdata:/var/lib/postgresql/data"],
               "healthcheck": {"test": ["CMD-SHELL", "pg_isready"], "interval": "10s"}},
        "cache": {"image": "redis:7", "hostname": "redis"},
        "zookeeper": {"image": "confluentinc/cp-zookeeper:7.6.1"},
        **{broker: {"image": "confluentinc/cp-kafka:7.6.1", "depends_on": ["zookeeper"],
                    "environment": {"KAFKA_ZOOKEEPER_CONNECT": "zookeeper:2181"},
                    "volumes": [f"{broker}-data:/var/lib/kafka/data"]}
           for broker in ("kafka-1", "kafka-2")},
    }
    edges = 4 + 1 + 2 * 2  # proxy -> apps; db -> pgdata; each broker -> zookeeper and its volume
    for i, app in enumerate(apps):
        peers = sorted(rng.sample(apps[:i], min(i, rng.randint(*PEERS))))
        service: dict[str, Any] = {
            "depends_on": {"db": {"condition": "service_healthy"},
                           "cache": {"condition": "service_started", "required": i % 2 == 0}},
            "environment": {
                "DATABASE_URL": f"postgres://{app}:s3cret@db:5432/{app.replace('-', '_')}",
                "REDIS_HOST": "${REDIS_HOST:-redis}",
                "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
                **{f"{peer.upper().replace('-', '_')}_URL": f"http://{peer}:8080/api" for peer in peers},
                "PAYMENTS_URL": "https://payments.example.com/v2",
                "SMTP_HOST": "${SMTP_HOST}",
                "LOG_LEVEL": "info",
            },
            "deploy": {"replicas": rng.choice((1, 2, 3))},
        }
        if i % BUILT_EVERY:
            service["image"] = f"registry.example.com/shop/{app}:1.{number % 10}.{i}"
        else:
            service["build"] = {"context": f"./{app}", "dockerfile": "Dockerfile"}
        if i % UPLOADS_EVERY == 0:
            service["volumes"] = ["uploads:/srv/uploads", f"./{app}/config:/etc/{app}:ro"]
            edges += 1
        services[app] = service
        edges += 4 + len(peers)  # db, cache, both brokers; its peers
    volumes = {"pgdata": None, "uploads": {"driver": "local"}, "kafka-1-data": None,
               "kafka-2-data": {"external": True, "name": f"kafka-2-data-{number:04d}"}}
    project = {"name": f"shop-{number:04d}", "services": services, "volumes": volumes}
    return project, len(services) + len(volumes) + edges
