"""Synthetic Kubernetes manifests: one file per namespace, each with a database, a cache and
a Kafka cluster, and microservices that call each other, the datastores and (through a
ConfigMap) a service of the previous namespace. Every fifth service has an Ingress."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

SERVICES_PER_NAMESPACE = 40
ROWS_PER_SERVICE = 9  # about: its Deployment, Service and their edge, 5 or 6 references, an Ingress share
PEERS = (1, 3)  # how many other services of its namespace a service calls
INGRESS_EVERY = 5


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows (CIs plus edges), namespace after namespace, in `directory/manifests`."""
    rng = random.Random(seed)
    root = directory / "manifests"
    root.mkdir(parents=True, exist_ok=True)
    written, number, previous = 0, 0, None
    while written < rows:
        namespace = f"team-{number:04d}"
        services = min(SERVICES_PER_NAMESPACE, max(2, (rows - written) // ROWS_PER_SERVICE))
        documents, count = _namespace(namespace, services, previous, rng)
        with (root / f"{namespace}.yaml").open("w", encoding="utf-8") as handle:
            yaml.dump_all(documents, handle, Dumper=yaml.CSafeDumper, sort_keys=False)
        written += count
        number, previous = number + 1, namespace
    return root


def _namespace(namespace: str, services: int, previous: str | None,
               rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """The namespace's manifests and its rows: each workload, Service and Ingress is a CI;
    each Service fronts one workload; each reference is one edge. The previous namespace has
    at least as many services, so every name here is one of its services too."""
    documents = [
        _workload("StatefulSet", namespace, "db", "docker.io/library/postgres:16.2", {}),
        _service(namespace, "db", headless=True),
        _workload("Deployment", namespace, "cache", "redis:7.2-alpine", {}),
        _service(namespace, "cache"),
        _workload("StatefulSet", namespace, "kafka", "docker.io/bitnami/kafka:3.7.0", {}),
        _service(namespace, "kafka", headless=True),
    ]
    rows = 6 + 3
    names = [f"svc-{i:02d}" for i in range(services)]
    for i, name in enumerate(names):
        others = [other for other in names if other != name]
        peers = rng.sample(others, min(len(others), rng.randint(*PEERS)))
        env = {
            "DB_HOST": "db",
            "CACHE_URL": f"redis://:{rng.randrange(10**8)}@cache:6379/0",
            "PAYMENT_PROVIDER_URL": "https://api.stripe.com/v1",
            "LOG_LEVEL": rng.choice(("info", "debug", "warn")),
            **{f"{peer.upper().replace('-', '_')}_URL": f"http://{peer}:8080/api" for peer in peers},
        }
        rows += 2 + len(peers)  # DB_HOST, CACHE_URL and each peer: an edge each
        if rng.random() < 0.5:
            env["KAFKA_BROKERS"] = "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092"
            rows += 1
        config: dict[str, str] = {"FEATURE_FLAGS": "search,recommendations"}
        if previous is not None:
            config["UPSTREAM_URL"] = f"http://{rng.choice(names)}.{previous}.svc.cluster.local:8080"
            rows += 1
        documents += [
            _config_map(namespace, f"{name}-config", config),
            _workload("Deployment", namespace, name, f"registry.example.com/{namespace}/{name}:1.{i}.0", env,
                      f"{name}-config"),
            _service(namespace, name),
        ]
        rows += 3  # the Deployment, its Service, the Service's edge to it
        if i % INGRESS_EVERY == 0:
            documents.append(_ingress(namespace, name, names[(i + 1) % len(names)]))
            rows += 3
    return documents, rows


def _workload(kind: str, namespace: str, name: str, image: str, env: dict[str, str],
              config_map: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080}],
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    if config_map is not None:
        container["envFrom"] = [{"configMapRef": {"name": config_map}}]
    spec: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name, "env": "prod"}}, "spec": {"containers": [container]}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": namespace}},
        "spec": spec,
    }


def _service(namespace: str, name: str, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _config_map(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def _ingress(namespace: str, name: str, api: str) -> dict[str, Any]:
    def path(prefix: str, service: str) -> dict[str, Any]:
        return {"path": prefix, "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": 8080}}}}

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": f"{name}.{namespace}.example.com",
                       "http": {"paths": [path("/", name), path("/api", api)]}}],
        },
    }
