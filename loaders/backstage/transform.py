"""Backstage catalog entities as CIs, their references as DEPENDS_ON edges, Groups as teams.

An entity reference is `[<kind>:][<namespace>/]<name>` (or a `{kind, namespace, name}`
mapping), compared case-insensitively. Backstage's descriptor format gives every reference
field a default kind, and as default namespace the referring entity's own ("Same as this
entity, typically `default`"): `component:billing` written in namespace `payments` is
`component:payments/billing`. A key is the full reference in lower case.

Edges point from the dependent to what it needs: a System needs its parts, a Domain its
Systems, a consumer of an API the Components that provide it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cmdb_graph.model import CIClass, Team
from loaders.backstage.get import RawCatalog
from loaders.native.get import Location
from loaders.sync.files import FIELD_LINES_KEY, LINE_KEY, strip_lines
from loaders.sync.model import (
    DANGLING,
    SKIPPED,
    UNKNOWN_CLASS,
    UNKNOWN_VALUE,
    SourceBatch,
    SourceRelationship,
    safe_id,
)

API_GROUP = "backstage.io"  # also its subgroups: Templates are scaffolder.backstage.io/v1beta3
DEFAULT_NAMESPACE = "default"
SOURCE_LOCATION = "backstage.io/source-location"
COMPONENT, RESOURCE, API, SYSTEM, DOMAIN, GROUP, USER = (
    "component", "resource", "api", "system", "domain", "group", "user")

# Kinds whose every entity is one CI of a fixed class.
KIND_CLASSES: dict[str, CIClass] = {
    API: CIClass.TECHNICAL_SERVICE,
    SYSTEM: CIClass.TECHNICAL_SERVICE,
    DOMAIN: CIClass.BUSINESS_SERVICE,
}
CI_KINDS = frozenset({COMPONENT, RESOURCE, *KIND_CLASSES})  # Component and Resource: by spec.type

# Component spec.type -> class; None: not a running CI, skipped with a finding.
COMPONENT_TYPES: dict[str, CIClass | None] = {
    "service": CIClass.APPLICATION,
    "website": CIClass.APPLICATION,
    "library": None,
}
COMPONENT_DEFAULT = CIClass.APPLICATION  # any other type, with an unknown-value finding

# Resource spec.type -> class.
RESOURCE_TYPES: dict[str, CIClass] = {
    "database": CIClass.DATABASE,
    "db": CIClass.DATABASE,
    "postgres": CIClass.DATABASE,
    "postgresql": CIClass.DATABASE,
    "mysql": CIClass.DATABASE,
    "mariadb": CIClass.DATABASE,
    "mongodb": CIClass.DATABASE,
    "s3-bucket": CIClass.STORAGE_DEVICE,
    "bucket": CIClass.STORAGE_DEVICE,
    "storage": CIClass.STORAGE_DEVICE,
    "filesystem": CIClass.STORAGE_DEVICE,
    "queue": CIClass.MIDDLEWARE,
    "topic": CIClass.MIDDLEWARE,
    "kafka-topic": CIClass.MIDDLEWARE,
    "message-broker": CIClass.MIDDLEWARE,
}
RESOURCE_DEFAULT = CIClass.CLOUD_RESOURCE  # any other type, with an unknown-class finding

# spec.lifecycle -> CI fields; the lifecycle itself is always kept as an attribute.
LIFECYCLES: dict[str, dict[str, str]] = {
    "production": {"status": "operational", "environment": "production"},
    "experimental": {"status": "implementing"},
    "deprecated": {"status": "operational"},
}

# Kinds that are neither CIs nor teams (Group): skipped, one finding per kind with a count.
# Any other kind is skipped the same way, as unknown.
SKIPPED_KINDS: dict[str, str] = {
    USER: "people are not configuration items",
    "location": "it points at more catalog files",
    "template": "it is a scaffolder template",
}

# Reference field -> the kind a reference without one names.
DEFAULT_KINDS: dict[str, str] = {
    "spec.owner": GROUP,
    "spec.system": SYSTEM,
    "spec.domain": DOMAIN,
    "spec.subcomponentOf": COMPONENT,
    "spec.subdomainOf": DOMAIN,
    "spec.dependsOn": COMPONENT,  # Backstage wants a kind here; a missing one reads as Component
    "spec.dependencyOf": COMPONENT,
    "spec.providesApis": API,
    "spec.consumesApis": API,
}

# Reference field -> (the kinds that carry it, whether the entity needs the target; False: the
# target needs the entity). One DEPENDS_ON edge per reference.
EDGE_FIELDS: dict[str, tuple[frozenset[str], bool]] = {
    "spec.dependsOn": (frozenset({COMPONENT, RESOURCE}), True),
    "spec.dependencyOf": (frozenset({COMPONENT, RESOURCE}), False),
    "spec.system": (frozenset({COMPONENT, API, RESOURCE}), False),  # a System needs its parts
    "spec.domain": (frozenset({SYSTEM}), False),  # a Domain needs its Systems
    "spec.subcomponentOf": (frozenset({COMPONENT}), False),  # a parent needs its subcomponents
    "spec.subdomainOf": (frozenset({DOMAIN}), False),
}

# Backstage's own rules for names and namespaces, so that a key always parses back.
KIND_PATTERN = r"[A-Za-z][A-Za-z0-9]*"
NAMESPACE_PATTERN = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
NAME_PATTERN = r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*"
KIND = re.compile(f"^{KIND_PATTERN}$")
NAMESPACE = re.compile(f"^{NAMESPACE_PATTERN}$")
NAME = re.compile(f"^{NAME_PATTERN}$")
REFERENCE = re.compile(
    f"^(?:(?P<kind>{KIND_PATTERN}):)?(?:(?P<namespace>{NAMESPACE_PATTERN})/)?(?P<name>{NAME_PATTERN})$")
MAX_NAME = 63  # for names and namespaces


@dataclass(frozen=True)
class Entity:
    key: str  # kind:namespace/name, lower case
    kind: str  # lower case
    kind_written: str  # as in the file, for messages and attributes
    namespace: str  # lower case
    body: dict[str, Any]  # the document as parsed: pass values through strip_lines to keep them
    location: Location

    @property
    def metadata(self) -> dict[str, Any]:
        return self.body["metadata"]

    @property
    def spec(self) -> dict[str, Any]:
        return self.body.get("spec") or {}

    def at(self, path: str) -> Location:
        return _at(self.location, self.body, path)


def _at(location: Location, body: dict[str, Any], path: str) -> Location:
    """The location of a field (`kind`, `metadata.name`, `spec.owner`...), on the line of its
    key where the file has it."""
    section, dot, key = path.partition(".")
    line = _key_lines(body.get(section)).get(key) if dot else _key_lines(body).get(section)
    return Location(location.file, line, location.section, location.index) if line else location


def is_backstage(api_version: Any) -> bool:
    group, slash, _version = api_version.partition("/") if isinstance(api_version, str) else ("", "", "")
    return bool(slash) and (group == API_GROUP or group.endswith(f".{API_GROUP}"))


def entity_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}:{namespace}/{name}".lower()


def parse_reference(value: Any, default_kind: str, default_namespace: str) -> str | None:
    """The key a reference names, or None when it is not a reference at all."""
    if isinstance(value, str):
        match = REFERENCE.match(value.strip())
        if match is None:
            return None
        namespace, name = match["namespace"] or default_namespace, match["name"]
        if len(namespace) > MAX_NAME or len(name) > MAX_NAME:
            return None
        return entity_key(match["kind"] or default_kind, namespace, name)
    if isinstance(value, dict):
        kind, namespace, name = (value.get("kind", default_kind), value.get("namespace", default_namespace),
                                 value.get("name"))
        if (isinstance(kind, str) and KIND.match(kind) and isinstance(namespace, str) and _valid_namespace(namespace)
                and isinstance(name, str) and _valid_name(name)):
            return entity_key(kind, namespace, name)
    return None


def _names_kind(value: Any) -> bool:
    return ":" in value if isinstance(value, str) else isinstance(value, dict) and "kind" in value


def team_id(group_key: str) -> str:
    """`group:default/platform` -> `platform`, `group:payments/billing` -> `payments/billing`."""
    namespace, _, name = group_key.removeprefix(f"{GROUP}:").partition("/")
    return safe_id(name if namespace == DEFAULT_NAMESPACE else f"{namespace}/{name}")


def transform(raw: RawCatalog) -> SourceBatch:
    batch = SourceBatch()
    entities = sorted(_entities(raw, batch), key=lambda e: e.key)
    teams = _teams(entities, batch)
    catalog = _Catalog(batch, {e.key: e for e in entities})
    for entity in entities:
        if entity.kind in CI_KINDS:
            _add_ci(entity, teams, catalog)
    providers = _providers(catalog)
    for entity in entities:
        if entity.key in catalog.cis:
            _edges(entity, providers, catalog)
    batch.relationships = _unique(batch.relationships)
    return batch


# --- documents to entities --------------------------------------------------------------


def _entities(raw: RawCatalog, batch: SourceBatch) -> list[Entity]:
    """The Backstage entities that are CIs or teams; every other document is skipped with a
    finding (one per skipped kind, with a count)."""
    entities: list[Entity] = []
    first_at: dict[str, Location] = {}
    skipped: dict[str, list[Location]] = {}
    for document in raw.documents:
        body = document.body
        line = body.get(LINE_KEY) if isinstance(body, dict) else None
        api_version = body.get("apiVersion") if isinstance(body, dict) else None
        if not is_backstage(api_version):
            batch.report(Location(document.file, line, "document", document.index), SKIPPED,
                         f"apiVersion: {api_version!r} is not a Backstage entity's ({API_GROUP}/...)")
            continue
        kind_written = body.get("kind")
        location = Location(document.file, line, str(kind_written), document.index)
        if not isinstance(kind_written, str) or not KIND.match(kind_written):
            batch.error(_at(location, body, "kind"), "kind", f"{kind_written!r} is not an entity kind")
            continue
        kind = kind_written.lower()
        if kind not in CI_KINDS and kind != GROUP:
            skipped.setdefault(kind, []).append(location)
            continue
        entity = _entity(body, kind, kind_written, location, batch)
        if entity is None:
            continue
        first = first_at.get(entity.key)
        if first is not None:
            batch.error(entity.at("metadata.name"), "metadata.name",
                        f"duplicate entity {entity.key}; first defined at {first.file}:{first.line}")
            continue
        first_at[entity.key] = entity.location
        entities.append(entity)
    for kind, locations in sorted(skipped.items()):
        why = SKIPPED_KINDS.get(kind, "unknown kind")
        count = f"{len(locations)} {locations[0].section} {'entity' if len(locations) == 1 else 'entities'}"
        batch.report(locations[0], SKIPPED, f"kind: {count} skipped: {why}")
    return entities


def _entity(body: dict[str, Any], kind: str, kind_written: str, location: Location,
            batch: SourceBatch) -> Entity | None:
    metadata, spec = body.get("metadata"), body.get("spec")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name is None:
        batch.error(_at(location, body, "metadata"), "metadata.name", "missing: every entity needs a name")
        return None
    if not isinstance(name, str) or not _valid_name(name):
        batch.error(_at(location, body, "metadata.name"), "metadata.name",
                    f"{name!r} is not a Backstage name (letters and digits separated by - _ or ., at most 63)")
        return None
    namespace = metadata.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not _valid_namespace(namespace):
        batch.error(_at(location, body, "metadata.namespace"), "metadata.namespace",
                    f"{namespace!r} is not a Backstage namespace (letters and digits separated by -, at most 63)")
        return None
    if spec is not None and not isinstance(spec, dict):
        batch.error(_at(location, body, "spec"), "spec", "must be a mapping")
        return None
    return Entity(entity_key(kind, namespace, name), kind, kind_written, namespace.lower(), body, location)


def _key_lines(value: Any) -> dict[str, int]:
    return value.get(FIELD_LINES_KEY, {}) if isinstance(value, dict) else {}


def _valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME and NAME.match(name) is not None


def _valid_namespace(namespace: str) -> bool:
    return len(namespace) <= MAX_NAME and NAMESPACE.match(namespace) is not None


# --- teams and CIs ----------------------------------------------------------------------


def _teams(entities: list[Entity], batch: SourceBatch) -> dict[str, str]:
    """Each Group as a Team; returns group key -> team id."""
    teams: dict[str, str] = {}
    for entity in entities:
        if entity.kind != GROUP:
            continue
        profile = entity.spec.get("profile")
        profile = profile if isinstance(profile, dict) else {}
        try:
            team = Team(id=team_id(entity.key), name=profile.get("displayName") or entity.metadata["name"],
                        email=profile.get("email"))
        except ValidationError as error:
            for detail in error.errors():
                batch.error(entity.at("spec.profile"), "spec.profile", detail["msg"])
            continue
        batch.teams.append(team)
        teams[entity.key] = team.id
    return teams


class _Catalog:
    """The batch being built, with what a reference can resolve to."""

    def __init__(self, batch: SourceBatch, entities: dict[str, Entity]) -> None:
        self.batch = batch
        self.entities = entities
        self.cis: set[str] = set()
        self.skipped: dict[str, str] = {}  # key -> why it is no CI
        self.rejected: set[str] = set()  # invalid CIs, already reported as errors

    def reference(self, entity: Entity, path: str, value: Any) -> str | None:
        key = parse_reference(value, DEFAULT_KINDS[path], entity.namespace)
        if key is None:
            self.batch.error(entity.at(path), path,
                             f"{strip_lines(value)!r} is not an entity reference ([kind:][namespace/]name)")
        return key

    def target(self, entity: Entity, path: str, value: Any) -> str | None:
        """The key of the CI a reference names, or None after a finding saying why there is none."""
        key = self.reference(entity, path, value)
        if key is None or key in self.rejected:
            return None
        if key in self.cis:
            return key
        why = self.skipped.get(key)
        if why is not None:
            self.batch.report(entity.at(path), SKIPPED, f"{path}: {key} is not imported ({why}); no edge")
        else:
            kindless = path == "spec.dependsOn" and not _names_kind(value)
            guess = " (no kind given: read as a Component)" if kindless else ""
            self.batch.report(entity.at(path), DANGLING, f"{path}: {key} is not in the catalog{guess}")
        return None


def _add_ci(entity: Entity, teams: dict[str, str], catalog: _Catalog) -> None:
    batch = catalog.batch
    ci_class = _ci_class(entity, batch)
    if ci_class is None:
        catalog.skipped[entity.key] = "a library"
        batch.report(entity.at("spec.type"), SKIPPED, f"spec.type: {entity.key} is a library, not a running CI")
        return
    metadata, spec = entity.metadata, entity.spec
    data: dict[str, Any] = {
        "id": safe_id(entity.key),
        "class": ci_class.value,
        "name": metadata.get("title") or metadata["name"],
        "attributes": _attributes(entity),
    }
    lifecycle = spec.get("lifecycle")
    if lifecycle is not None:
        fields = LIFECYCLES.get(str(lifecycle).lower())
        if fields is None:
            batch.report(entity.at("spec.lifecycle"), UNKNOWN_VALUE,
                         f"spec.lifecycle: {lifecycle!r} is not one of {', '.join(LIFECYCLES)}; "
                         "status left at its default")
        data.update(fields or {})
    _owner(entity, data, teams, catalog)
    metadata_lines, spec_lines = _key_lines(metadata), _key_lines(spec)
    field_lines = {
        "name": metadata_lines.get("title" if "title" in metadata else "name"),
        "status": spec_lines.get("lifecycle"),
        "environment": spec_lines.get("lifecycle"),
        "owner": spec_lines.get("owner"),
    }
    if batch.add_ci(entity.key, data, entity.location, {k: v for k, v in field_lines.items() if v}) is None:
        catalog.rejected.add(entity.key)
    else:
        catalog.cis.add(entity.key)


def _ci_class(entity: Entity, batch: SourceBatch) -> CIClass | None:
    if entity.kind in KIND_CLASSES:
        return KIND_CLASSES[entity.kind]
    spec_type = str(entity.spec.get("type") or "").lower()
    if entity.kind == COMPONENT:
        if spec_type in COMPONENT_TYPES:
            return COMPONENT_TYPES[spec_type]
        batch.report(entity.at("spec.type"), UNKNOWN_VALUE,
                     f"spec.type: component type {spec_type or None!r} is not mapped; "
                     f"read as {COMPONENT_DEFAULT.value}")
        return COMPONENT_DEFAULT
    if spec_type in RESOURCE_TYPES:
        return RESOURCE_TYPES[spec_type]
    batch.report(entity.at("spec.type"), UNKNOWN_CLASS,
                 f"spec.type: resource type {spec_type or None!r} is not mapped; read as {RESOURCE_DEFAULT.value}")
    return RESOURCE_DEFAULT


def _attributes(entity: Entity) -> dict[str, Any]:
    metadata, spec = entity.metadata, entity.spec
    annotations = metadata.get("annotations")
    attributes = {
        "namespace": entity.namespace,
        "kind": entity.kind_written,
        "type": spec.get("type"),
        "lifecycle": spec.get("lifecycle"),
        "description": metadata.get("description"),
        "tags": metadata.get("tags") or None,
        "source_location": annotations.get(SOURCE_LOCATION) if isinstance(annotations, dict) else None,
    }
    return {key: strip_lines(value) for key, value in attributes.items() if value is not None}


def _owner(entity: Entity, data: dict[str, Any], teams: dict[str, str], catalog: _Catalog) -> None:
    """A Group owner becomes the CI's owner (its team); a User owner is kept as an attribute."""
    value = entity.spec.get("owner")
    if value is None:
        return
    key = catalog.reference(entity, "spec.owner", value)
    if key is None:
        return
    if key.startswith(f"{USER}:"):
        data["attributes"]["owner_user"] = key
    elif not key.startswith(f"{GROUP}:"):
        catalog.batch.report(entity.at("spec.owner"), UNKNOWN_VALUE, f"spec.owner: {key} is neither a Group nor a User")
    elif key in teams:
        data["owner"] = teams[key]
    else:
        catalog.batch.report(entity.at("spec.owner"), DANGLING, f"spec.owner: {key} is not in the catalog")


# --- edges ------------------------------------------------------------------------------


def _references(value: Any) -> list[Any]:
    """A reference field's entries; a single reference where a list is expected is tolerated."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _providers(catalog: _Catalog) -> dict[str, list[str]]:
    """API key -> the Components that provide it (sorted); each API DEPENDS_ON its providers."""
    providers: dict[str, list[str]] = {}
    for key in sorted(catalog.cis):
        entity = catalog.entities[key]
        if entity.kind != COMPONENT:
            continue
        for value in _references(entity.spec.get("providesApis")):
            api = catalog.target(entity, "spec.providesApis", value)
            if api is not None:
                providers.setdefault(api, []).append(key)
                catalog.batch.depends(api, key, entity.at("spec.providesApis"))
    return providers


def _edges(entity: Entity, providers: dict[str, list[str]], catalog: _Catalog) -> None:
    for path, (kinds, entity_needs_target) in EDGE_FIELDS.items():
        if entity.kind not in kinds:
            continue
        for value in _references(entity.spec.get(path.removeprefix("spec."))):
            target = catalog.target(entity, path, value)
            if target is not None:
                source, needed = (entity.key, target) if entity_needs_target else (target, entity.key)
                catalog.batch.depends(source, needed, entity.at(path))
    if entity.kind == COMPONENT:
        _consumed_apis(entity, providers, catalog)


def _consumed_apis(entity: Entity, providers: dict[str, list[str]], catalog: _Catalog) -> None:
    """A consumer needs every Component that provides the API; an API nobody provides is
    depended on itself, so the consumer still shows what it waits for."""
    where = entity.at("spec.consumesApis")
    for value in _references(entity.spec.get("consumesApis")):
        api = catalog.target(entity, "spec.consumesApis", value)
        if api is None:
            continue
        if api in providers:
            for provider in providers[api]:
                catalog.batch.depends(entity.key, provider, where)
        else:
            catalog.batch.report(where, DANGLING,
                                 f"spec.consumesApis: no component provides {api}; depending on the API itself")
            catalog.batch.depends(entity.key, api, where)


def _unique(relationships: list[SourceRelationship]) -> list[SourceRelationship]:
    """The first of each (source, type, target): two fields may name the same edge."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for rel in relationships:
        triple = (rel.source_key, rel.type.value, rel.target_key)
        if triple not in seen:
            seen.add(triple)
            unique.append(rel)
    return unique
