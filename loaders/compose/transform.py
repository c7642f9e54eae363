"""Docker Compose services as CIs, what they need as DEPENDS_ON edges, and their named volumes
as StorageDevices they are STORED_ON.

A service's dependencies are what Compose itself wires (`depends_on`, `links`,
`network_mode: service:<name>`) and what the service is told: environment values that name
another service's host (`DB_HOST=db`, `DATABASE_URL=postgres://app:secret@db:5432/app`,
`KAFKA_BROKERS=kafka-1:9092,kafka-2:9092`). Keys are `<project>/<service>` and
`<project>/volume/<name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdb_graph.model import CIClass, RelType, Strength
from loaders.compose.get import RawCompose, RawComposeFile
from loaders.native.get import Location
from loaders.sync.addresses import IMAGE_CLASSES, hosts_in, image_repository, is_host_variable
from loaders.sync.files import FIELD_LINES_KEY, LINE_KEY, strip_lines
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_VALUE, SourceBatch, SourceRelationship, safe_id

# A service's class by its image's repository name: the datastores and brokers of
# loaders/sync/addresses.py (IMAGE_CLASSES), and, in Compose only, these reverse proxies as
# LoadBalancers (in Kubernetes the Service and the Ingress are). Any other image, and a
# service built from source, is DEFAULT_CLASS.
LOAD_BALANCER_IMAGES = frozenset({"nginx", "traefik", "haproxy", "envoy", "caddy"})
DEFAULT_CLASS = CIClass.APPLICATION

# depends_on conditions Compose knows; another one is reported, and the edge still made.
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|[A-Za-z_][A-Za-z0-9_]*)")
WITH_DEFAULT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:?-(?P<default>.*)$", re.DOTALL)
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
NOT_IN_PROJECT_NAME = re.compile(r"[^a-z0-9_-]")
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class Service:
    name: str
    key: str
    body: dict[str, Any]  # as parsed, with line keys
    location: Location  # the line of the service's name under `services:`

    def at(self, key: str) -> Location:
        """Where one of the service's keys is."""
        return self.on_line(self.body.get(FIELD_LINES_KEY, {}).get(key))

    def on_line(self, line: int | None) -> Location:
        return Location(self.location.file, line, self.location.section, None) if line else self.location


@dataclass(frozen=True)
class Project:
    name: str
    services: dict[str, Service]
    volumes: dict[str, str]  # name under top-level `volumes:` -> key
    hosts: dict[str, str]  # lower-case host name (service name, hostname, container_name, alias) -> service
    rejected: frozenset[str]  # keys of invalid services and volumes, already reported as errors


def transform(raw: RawCompose) -> SourceBatch:
    batch = SourceBatch()
    for file, instead in raw.ignored:
        batch.report(Location(file, None, "file", None), SKIPPED,
                     f"{Path(file).name}: not read; Compose reads {instead} in this folder")
    defined_in: dict[str, str] = {}
    for compose_file in raw.files:
        name = _project_name(compose_file, batch)
        if name is None:
            continue
        if name in defined_in:
            batch.error(_top_level(compose_file, "name"), "name",
                        f"project {name!r} is also defined by {defined_in[name]}; set a distinct top-level name:")
            continue
        defined_in[name] = compose_file.file
        project = _project(compose_file, name, batch)
        for service in project.services.values():
            _edges(service, project, batch)
    batch.relationships = _unique(batch.relationships)
    return batch


# --- projects, services and volumes -----------------------------------------------------


def _top_level(compose_file: RawComposeFile, key: str) -> Location:
    """Where a top-level key is; errors about it name the section `project` and the field `key`."""
    return Location(compose_file.file, compose_file.body.get(FIELD_LINES_KEY, {}).get(key), "project", None)


def _project_name(compose_file: RawComposeFile, batch: SourceBatch) -> str | None:
    """The top-level `name:`, else the folder's name normalised the way Compose does it."""
    declared = compose_file.body.get("name")
    if declared is not None:
        name = interpolate(str(declared))
        if name is None or not PROJECT_NAME.match(name):
            batch.error(_top_level(compose_file, "name"), "name",
                        f"{declared!r} is not a project name (lower-case letters, digits, - and _)")
            return None
        return name
    name = NOT_IN_PROJECT_NAME.sub("", compose_file.directory.lower()).lstrip("_-")
    if not name:
        batch.error(_top_level(compose_file, "name"), "name",
                    f"no project name: the folder name {compose_file.directory!r} gives none; set a top-level name:")
        return None
    return name


def _entries(compose_file: RawComposeFile, section: str, batch: SourceBatch) -> list[tuple[str, Any, Location]]:
    """(name, value, location) of each entry of a top-level mapping (`services`, `volumes`), by name."""
    mapping = compose_file.body.get(section)
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        batch.error(_top_level(compose_file, section), section, "must be a mapping of names")
        return []
    lines = mapping.get(FIELD_LINES_KEY, {})
    names = sorted(str(name) for name in mapping if name not in (LINE_KEY, FIELD_LINES_KEY))
    values = {str(name): value for name, value in mapping.items()}
    return [(name, values[name], Location(compose_file.file, lines.get(name), section, None)) for name in names]


def _project(compose_file: RawComposeFile, name: str, batch: SourceBatch) -> Project:
    """The project's volumes and services as CIs; the project holds the valid ones."""
    volumes: dict[str, str] = {}
    services: dict[str, Service] = {}
    rejected: set[str] = set()
    for volume, value, location in _entries(compose_file, "volumes", batch):
        key = f"{name}/volume/{volume}"
        if _add_volume(name, volume, key, value, location, batch):
            volumes[volume] = key
        else:
            rejected.add(key)
    for service_name, value, location in _entries(compose_file, "services", batch):
        key = f"{name}/{service_name}"
        if not isinstance(value, dict):
            batch.error(location, service_name, "a service must be a mapping (image:, build:, ports:, ...)")
            rejected.add(key)
            continue
        service = Service(service_name, key, value, location)
        if _add_service(service, name, batch):
            services[service_name] = service
        else:
            rejected.add(key)
    return Project(name, services, volumes, _hosts(services), frozenset(rejected))


def _add_volume(project: str, volume: str, key: str, value: Any, location: Location, batch: SourceBatch) -> bool:
    """A named volume as a StorageDevice, named as Docker names it: `<project>_<volume>` unless
    it sets `name:`; an external volume keeps its own name."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        batch.error(location, volume, "a volume must be a mapping (driver:, external:, name:) or empty")
        return False
    external = value.get("external")
    legacy_name = external.get("name") if isinstance(external, dict) else None  # `external: {name: x}`
    is_external = external is True or isinstance(external, dict)
    docker_name = value.get("name") or legacy_name or (volume if is_external else f"{project}_{volume}")
    attributes = {"project": project, "volume": volume, "driver": value.get("driver"), "external": is_external or None}
    data = {
        "id": safe_id(key),
        "class": CIClass.STORAGE_DEVICE.value,
        "name": str(docker_name),
        "attributes": {k: strip_lines(v) for k, v in attributes.items() if v is not None},
    }
    return batch.add_ci(key, data, location) is not None


def _hosts(services: dict[str, Service]) -> dict[str, str]:
    """What other containers can call each service by: its name first, then its `hostname`,
    `container_name` and network aliases."""
    hosts = {name.lower(): name for name in services}
    for name, service in services.items():
        body = service.body
        for host in (body.get("hostname"), body.get("container_name"), *_network_aliases(body)):
            if isinstance(host, str):
                hosts.setdefault(host.lower(), name)
    return hosts


def _network_aliases(body: dict[str, Any]) -> list[Any]:
    """`networks: {backend: {aliases: [database]}}`; the list form of `networks` has none."""
    networks = body.get("networks")
    if not isinstance(networks, dict):
        return []
    aliases = [network.get("aliases") for network in networks.values() if isinstance(network, dict)]
    return [alias for names in aliases if isinstance(names, list) for alias in names]


def _add_service(service: Service, project: str, batch: SourceBatch) -> bool:
    body = service.body
    image, build = body.get("image"), body.get("build")
    if image is None and build is None:
        batch.error(service.location, f"{service.name}.image",
                    "neither image nor build: Compose cannot create this service")
        return False
    if image is not None and not isinstance(image, str):
        batch.error(service.at("image"), f"{service.name}.image", "must be an image reference")
        return False
    image = (interpolate(image) or image) if image is not None else None
    ci_class = service_class(image) if image else DEFAULT_CLASS
    ports = body.get("ports") or []
    if not isinstance(ports, list):
        batch.error(service.at("ports"), f"{service.name}.ports", "must be a list of ports")
        return False
    attributes = {
        "project": project,
        "service": service.name,
        "image": image,
        "build": build.get("context", ".") if isinstance(build, dict) else build,
        "ports": [_port(port) for port in ports] or None,
        "replicas": _replicas(body),
        "profiles": body.get("profiles") or None,
        "container_name": body.get("container_name"),
        "hostname": body.get("hostname"),
    }
    data = {
        "id": safe_id(service.key),
        "class": ci_class.value,
        "name": service.key,
        "attributes": {key: strip_lines(value) for key, value in attributes.items() if value is not None},
    }
    return batch.add_ci(service.key, data, service.location) is not None


def _replicas(body: dict[str, Any]) -> Any:
    """`deploy.replicas`, else the legacy `scale`."""
    deploy = body.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    return replicas if replicas is not None else body.get("scale")


def service_class(image: str) -> CIClass:
    repository = image_repository(image)
    if repository in LOAD_BALANCER_IMAGES:
        return CIClass.LOAD_BALANCER
    return IMAGE_CLASSES.get(repository, DEFAULT_CLASS)


def _port(port: Any) -> str:
    """A port in the short syntax; the long syntax is written back as `[host_ip:][published:]target[/protocol]`."""
    if not isinstance(port, dict):
        return str(port)
    text = str(port.get("target", ""))
    if port.get("published") is not None:
        text = f"{port['published']}:{text}"
    if port.get("host_ip"):
        text = f"{port['host_ip']}:{text}"
    protocol = port.get("protocol")
    return f"{text}/{protocol}" if protocol and protocol != "tcp" else text


# --- edges ------------------------------------------------------------------------------


def _edges(service: Service, project: Project, batch: SourceBatch) -> None:
    _depends_on(service, project, batch)
    aliases = _links(service, project, batch)
    network_mode = service.body.get("network_mode")
    if isinstance(network_mode, str) and network_mode.startswith("service:"):
        _need(service, network_mode.removeprefix("service:"), service.at("network_mode"),
              f"{service.name}.network_mode", project, batch)
    _environment(service, project, aliases, batch)
    _volumes(service, project, batch)


def _need(service: Service, target: str, where: Location, field: str, project: Project, batch: SourceBatch,
          strength: Strength = Strength.HARD) -> None:
    """service DEPENDS_ON the service named `target`, or a finding when the project has none."""
    needed = project.services.get(target)
    if needed is not None:
        batch.depends(service.key, needed.key, where, RelType.DEPENDS_ON, strength)
    elif f"{project.name}/{target}" not in project.rejected:
        batch.report(where, DANGLING, f"{field}: {target!r} is not a service of project {project.name}")


def _depends_on(service: Service, project: Project, batch: SourceBatch) -> None:
    """The list form, and the map form with `condition:` and `required:` (false: a soft edge)."""
    value = service.body.get("depends_on")
    field = f"{service.name}.depends_on"
    if value is None:
        return
    if isinstance(value, list):
        for target in value:
            if isinstance(target, str):
                _need(service, target, service.at("depends_on"), field, project, batch)
            else:
                batch.error(service.at("depends_on"), field, f"{strip_lines(target)!r} is not a service name")
        return
    if not isinstance(value, dict):
        batch.error(service.at("depends_on"), field, "must be a list of services or a mapping of service to options")
        return
    lines = value.get(FIELD_LINES_KEY, {})
    for target, options in value.items():
        if target in (LINE_KEY, FIELD_LINES_KEY):
            continue
        where = service.on_line(lines.get(str(target), service.at("depends_on").line))
        options = options if options is not None else {}
        if not isinstance(options, dict):
            batch.error(where, f"{field}.{target}", "must be a mapping (condition:, required:, restart:)")
            continue
        condition = options.get("condition", CONDITIONS[0])
        if condition not in CONDITIONS:
            batch.report(where, UNKNOWN_VALUE,
                         f"{field}.{target}.condition: {condition!r} is not one of {', '.join(CONDITIONS)}")
        soft = str(options.get("required", True)).lower() == "false"
        _need(service, str(target), where, field, project, batch, Strength.SOFT if soft else Strength.HARD)


def _links(service: Service, project: Project, batch: SourceBatch) -> dict[str, str]:
    """Each `service` or `service:alias` link as an edge; returns alias -> service."""
    value = service.body.get("links")
    field = f"{service.name}.links"
    if value is None:
        return {}
    if not isinstance(value, list):
        batch.error(service.at("links"), field, "must be a list of `service` or `service:alias`")
        return {}
    aliases = {}
    for link in value:
        if not isinstance(link, str):
            batch.error(service.at("links"), field, f"{strip_lines(link)!r} is not `service` or `service:alias`")
            continue
        target, _, alias = link.partition(":")
        _need(service, target, service.at("links"), field, project, batch)
        aliases[(alias or target).lower()] = target
    return aliases


def _environment(service: Service, project: Project, aliases: dict[str, str], batch: SourceBatch) -> None:
    """Each host an environment value names: an edge to the service answering to it; a host
    nobody answers to is reported only for a host-style variable (DB_HOST=...) and a single-label
    name, since a dotted name or another variable may well point outside the project."""
    for variable, value, line in _variables(service, batch):
        resolved = interpolate(value)
        if resolved is None:
            continue
        host_style = is_host_variable(variable)
        for host in hosts_in(resolved, bare=host_style):
            target = aliases.get(host) or project.hosts.get(host)
            if target is not None:
                batch.depends(service.key, project.services[target].key, service.on_line(line))
            elif host_style and "." not in host and f"{project.name}/{host}" not in project.rejected:
                batch.report(service.on_line(line), DANGLING, f"{service.name}.environment.{variable}: "
                                                              f"{host!r} is not a service of project {project.name}")


def _variables(service: Service, batch: SourceBatch) -> list[tuple[str, str, int | None]]:
    """(name, value, line) of each variable that has a value, from the list (`KEY=VALUE`, on the
    line of `environment:`) or the map form (on its own line)."""
    value = service.body.get("environment")
    line = service.at("environment").line
    if value is None:
        return []
    if isinstance(value, list):
        pairs = [str(item).partition("=") for item in value]
        return [(name.strip(), text, line) for name, equals, text in pairs if equals]
    if not isinstance(value, dict):
        batch.error(service.at("environment"), f"{service.name}.environment",
                    "must be a list of KEY=VALUE or a mapping")
        return []
    lines = value.get(FIELD_LINES_KEY, {})
    return [(str(name), str(text), lines.get(str(name), line))
            for name, text in value.items()
            if name not in (LINE_KEY, FIELD_LINES_KEY) and text is not None]


def _volumes(service: Service, project: Project, batch: SourceBatch) -> None:
    """service STORED_ON each named volume it mounts; bind mounts and anonymous volumes are no CIs."""
    value = service.body.get("volumes")
    field = f"{service.name}.volumes"
    if value is None:
        return
    if not isinstance(value, list):
        batch.error(service.at("volumes"), field, "must be a list of mounts")
        return
    for mount in value:
        volume = named_volume(mount)
        if volume is None:
            continue
        key = project.volumes.get(volume)
        if key is not None:
            batch.depends(service.key, key, service.at("volumes"), RelType.STORED_ON)
        elif f"{project.name}/volume/{volume}" not in project.rejected:
            batch.report(service.at("volumes"), DANGLING,
                         f"{field}: volume {volume!r} is not declared under the top-level volumes:")


def named_volume(mount: Any) -> str | None:
    """The named volume a mount uses: `data:/var/lib/x[:ro]` or `{type: volume, source: data}`;
    None for a bind mount (`./x:/y`, `/x:/y`, `~/x:/y`), an anonymous volume or a tmpfs."""
    if isinstance(mount, dict):
        source = mount.get("source")
        if mount.get("type") != "volume" or not source:
            return None
        return interpolate(str(source)) or None
    text = interpolate(str(mount))
    if text is None or WINDOWS_PATH.match(text):
        return None
    source, colon, _target = text.partition(":")
    return source if colon and VOLUME_NAME.match(source) else None


# --- values -----------------------------------------------------------------------------


def interpolate(text: str) -> str | None:
    """`text` with `${VAR:-default}` and `${VAR-default}` read as their default and `$$` as `$`;
    None when it uses a variable without a default, whose value only the running host knows."""
    if "$" not in text:
        return text
    unresolved = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unresolved
        if match.group(0) == "$$":
            return "$"
        default = WITH_DEFAULT.match(match["braced"]) if match["braced"] is not None else None
        if default is None or "$" in default["default"]:
            unresolved = True
            return ""
        return default["default"]

    result = INTERPOLATION.sub(substitute, text)
    return None if unresolved else result


def _unique(relationships: list[SourceRelationship]) -> list[SourceRelationship]:
    """One edge per (source, type, target), in first-seen order; hard where any of them is hard
    (`depends_on: {required: false}` and `DB_HOST=db` together still mean the service needs db)."""
    unique: dict[tuple[str, str, str], SourceRelationship] = {}
    for rel in relationships:
        triple = (rel.source_key, rel.type.value, rel.target_key)
        first = unique.get(triple)
        if first is None or (first.strength is Strength.SOFT and rel.strength is Strength.HARD):
            unique[triple] = rel if first is None else SourceRelationship(
                first.source_key, first.target_key, first.type, first.location, Strength.HARD)
    return list(unique.values())
