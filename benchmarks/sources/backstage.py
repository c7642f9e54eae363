"""A synthetic Backstage catalog: a folder per domain holding one multi-document file per system,
and an org file of groups, users and a Location. Each system's services provide an API, depend
on a resource of their own and on a sibling, and consume APIs of earlier systems; every tenth
component is a library and each system has an event API nobody provides, as in a real catalog."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "backstage.io/v1alpha1"
COMPONENTS_PER_SYSTEM = 24
SYSTEMS_PER_DOMAIN = 8
SYSTEMS_PER_GROUP = 2
LIBRARY_EVERY = 10
CONSUMED_APIS = 2
# the last is not in the importer's table: read as CloudResource with a finding
RESOURCE_TYPES = ("database", "postgres", "s3-bucket", "queue", "kafka-topic", "redis-cluster")
LIFECYCLES = ("production", "production", "production", "experimental", "deprecated")


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows (CIs plus edges), system after system, in `directory/backstage-catalog`."""
    rng = random.Random(seed)
    root = directory / "backstage-catalog"
    root.mkdir(parents=True, exist_ok=True)
    provided: list[str] = []  # APIs of the systems written so far, for later systems to consume
    written = system = 0
    while written < rows:
        domain = f"domain-{system // SYSTEMS_PER_DOMAIN:03d}"
        group = f"team-{system // SYSTEMS_PER_GROUP:04d}"
        documents, count = _system(f"system-{system:04d}", domain, group, provided, rng)
        if system % SYSTEMS_PER_DOMAIN == 0:
            documents.insert(0, _entity("Domain", domain, {"owner": group}, title=f"Domain {domain[-3:]}"))
            count += 1
        folder = root / domain
        folder.mkdir(exist_ok=True)
        _write(folder / f"system-{system:04d}.yaml", documents)
        written += count
        system += 1
    groups = range(0, system, SYSTEMS_PER_GROUP)
    org = [_entity("Group", f"team-{g // SYSTEMS_PER_GROUP:04d}", {
        "type": "team", "profile": {"displayName": f"Team {g // SYSTEMS_PER_GROUP}",
                                    "email": f"team-{g // SYSTEMS_PER_GROUP:04d}@example.com"},
        "children": []}) for g in groups]
    org += [_entity("User", f"user-{g // SYSTEMS_PER_GROUP:04d}", {"memberOf": [f"team-{g // SYSTEMS_PER_GROUP:04d}"]})
            for g in groups]
    org.append(_entity("Location", "generated", {"type": "url", "targets": ["./*/*.yaml"]}))
    _write(root / "org.yaml", org)
    return root


def _system(system: str, domain: str, group: str, provided: list[str],
            rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """The system's entities and its rows: each CI and each edge the importer will make."""
    documents = [_entity("System", system, {"owner": group, "domain": domain})]
    events = f"{system}-events"
    documents.append(_entity("API", events, {"type": "asyncapi", "lifecycle": "experimental", "owner": group,
                                             "system": system, "definition": "asyncapi: 2.6.0"}))
    count = 1 + 1 + 2  # the System, its event API, Domain -> System and System -> event API
    services = [f"{system}-svc-{i:02d}" for i in range(COMPONENTS_PER_SYSTEM)]
    earlier = list(provided)
    for i, service in enumerate(services):
        if i % LIBRARY_EVERY == LIBRARY_EVERY - 1:
            documents.append(_entity("Component", f"{system}-lib-{i:02d}", {
                "type": "library", "lifecycle": "production", "owner": group}))
            continue
        api, resource = f"{service}-api", f"{service}-store"
        consumes = [*rng.sample(earlier, min(CONSUMED_APIS, len(earlier))), events]
        spec = {
            "type": "service" if i % 4 else "website",
            "lifecycle": rng.choice(LIFECYCLES),
            "owner": group,
            "system": system,
            "providesApis": [api],
            "consumesApis": consumes,
            "dependsOn": [f"resource:{resource}"] + ([f"component:{services[i - 1]}"] if i else []),
        }
        source = {"backstage.io/source-location": f"url:https://git.example.com/{service}/"}
        documents.append(_entity("Component", service, spec, tags=["generated", domain], annotations=source))
        documents.append(_entity("API", api, {"type": "openapi", "lifecycle": "production", "owner": group,
                                              "system": system, "definition": "openapi: 3.0.0"}))
        documents.append(_entity("Resource", resource, {"type": rng.choice(RESOURCE_TYPES), "owner": group,
                                                        "system": system}))
        provided.append(api)
        # three CIs; System -> each of them, API -> provider, the dependsOn and consumesApis edges
        count += 3 + 3 + 1 + len(spec["dependsOn"]) + len(consumes)
    return documents, count


def _entity(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def _write(path: Path, documents: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump_all(documents, handle, Dumper=yaml.CSafeDumper, sort_keys=False)
