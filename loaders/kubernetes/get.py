"""Read Kubernetes manifests: every document of every `.yaml`, `.yml` and `.json` file under a
directory (or of one multi-document file), the objects of a `List` taken out of it, each
object checked against the shape of its kind as far as the importer reads it.

An object remembers its file, its position among the file's objects and, in YAML, the line
of each key read; JSON has no useful lines once parsed, so its objects are known by file and
index. An object that does not fit its shape is kept as errors naming the field, for the
transform to report: the whole import is refused, but every bad object is listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from loaders.native.get import Location
from loaders.native.transform import LoadError
from loaders.sync.files import FIELD_LINES_KEY, LINE_KEY, files_in, json_document, strip_lines, yaml_documents

SUFFIXES = (".yaml", ".yml", ".json")
LIST_KIND = "List"
LIST_SUFFIX = "List"  # `kind: List`, or the API's typed lists (`DeploymentList`)
DEFAULT_NAMESPACE = "default"


# --- the shapes read -----------------------------------------------------------------------


TextMap = Annotated[dict[str, str], BeforeValidator(strip_lines)]  # labels, selectors, data


class Shape(BaseModel):
    """A part of a manifest, keys as the API writes them (camelCase). Keys not read are
    ignored; null is the same as absent, as for the API server; a YAML mapping gives its
    line and the line of each of its keys."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, coerce_numbers_to_str=True)

    line: int | None = Field(default=None, alias=LINE_KEY)
    field_lines: Annotated[dict[str, int], SkipValidation] = Field(default_factory=dict, alias=FIELD_LINES_KEY)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data

    def line_of(self, key: str) -> int | None:
        """The line of `key` as written in the manifest, else the mapping's own."""
        return self.field_lines.get(key, self.line)


class Metadata(Shape):
    name: str = Field(min_length=1)
    namespace: str = DEFAULT_NAMESPACE
    labels: TextMap = Field(default_factory=dict)
    annotations: TextMap = Field(default_factory=dict)

    @field_validator("namespace")
    @classmethod
    def _empty_is_default(cls, value: str) -> str:
        return value or DEFAULT_NAMESPACE


class Manifest(Shape):
    """Any object: what every kind has. Objects of kinds not read are checked this far."""

    api_version: str = ""
    kind: str = Field(min_length=1)
    metadata: Metadata


class ConfigMapKeyRef(Shape):
    name: str
    key: str
    optional: bool = False


class EnvVarSource(Shape):
    config_map_key_ref: ConfigMapKeyRef | None = None  # secretKeyRef, fieldRef...: not read


class EnvVar(Shape):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ConfigMapRef(Shape):
    name: str
    optional: bool = False


class EnvFromSource(Shape):
    prefix: str = ""
    config_map_ref: ConfigMapRef | None = None  # secretRef: not read


class Container(Shape):
    name: str = ""
    image: str = ""
    env: list[EnvVar] = Field(default_factory=list)
    env_from: list[EnvFromSource] = Field(default_factory=list)


class PodSpec(Shape):
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)


class PodMetadata(Shape):
    labels: TextMap = Field(default_factory=dict)


class PodTemplate(Shape):
    metadata: PodMetadata = Field(default_factory=PodMetadata)
    spec: PodSpec = Field(default_factory=PodSpec)


class WorkloadSpec(Shape):
    replicas: int | None = None
    template: PodTemplate


class Workload(Manifest):
    spec: WorkloadSpec


class ServicePort(Shape):
    port: int
    protocol: str = "TCP"
    node_port: int | None = None


class ServiceSpec(Shape):
    type: str = "ClusterIP"
    selector: TextMap = Field(default_factory=dict)
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] = Field(default_factory=list, alias="clusterIPs")
    ports: list[ServicePort] = Field(default_factory=list)
    external_name: str | None = None


class Service(Manifest):
    spec: ServiceSpec = Field(default_factory=ServiceSpec)


class ServiceBackend(Shape):
    name: str


class Backend(Shape):
    """`service.name` since networking.k8s.io/v1, `serviceName` before it."""

    service: ServiceBackend | None = None
    service_name: str | None = None
    resource: dict[str, Any] | None = None  # a custom resource (a bucket...): not read

    @model_validator(mode="after")
    def _names_a_target(self) -> Backend:
        if self.service is None and self.service_name is None and self.resource is None:
            raise ValueError("a backend names a service (service.name, or serviceName before networking.k8s.io/v1)")
        return self

    @property
    def service_named(self) -> str | None:
        return self.service.name if self.service is not None else self.service_name


class IngressPath(Shape):
    backend: Backend


class IngressRuleHttp(Shape):
    paths: list[IngressPath] = Field(default_factory=list)


class IngressRule(Shape):
    host: str | None = None
    http: IngressRuleHttp | None = None


class IngressTls(Shape):
    hosts: list[str] = Field(default_factory=list)


class IngressSpec(Shape):
    ingress_class_name: str | None = None
    default_backend: Backend | None = None
    backend: Backend | None = None  # the default backend before networking.k8s.io/v1
    rules: list[IngressRule] = Field(default_factory=list)
    tls: list[IngressTls] = Field(default_factory=list)


class Ingress(Manifest):
    spec: IngressSpec = Field(default_factory=IngressSpec)


class ConfigMap(Manifest):
    data: TextMap = Field(default_factory=dict)


# (API group, kind) -> the shape read; the group is the apiVersion without its version, ""
# for the core group (`v1`). A kind of another group (Knative's `Service`) is not read.
READ_KINDS: dict[tuple[str, str], type[Manifest]] = {
    ("apps", "Deployment"): Workload,
    ("apps", "StatefulSet"): Workload,
    ("apps", "DaemonSet"): Workload,
    ("extensions", "Deployment"): Workload,
    ("extensions", "DaemonSet"): Workload,
    ("", "Service"): Service,
    ("networking.k8s.io", "Ingress"): Ingress,
    ("extensions", "Ingress"): Ingress,
    ("", "ConfigMap"): ConfigMap,
}

M = TypeVar("M", bound=Manifest, covariant=True)  # a Read[Workload] is a Read[Manifest]


@dataclass(frozen=True)
class Read(Generic[M]):
    """One object that fits its shape, where it was read and what the API server knows it by."""

    manifest: M
    key: str  # <namespace>/<kind in lower case>/<name>
    namespace: str
    location: Location

    def at(self, line: int | None) -> Location:
        """This object's location, on `line` where the file has one."""
        if line is None:
            return self.location
        return Location(self.location.file, line, self.location.section, self.location.index)


@dataclass
class RawManifests:
    objects: list[Read[Manifest]] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def object_key(namespace: str, kind: str, name: str) -> str:
    return f"{namespace}/{kind.lower()}/{name}"


def api_group(api_version: str) -> str:
    """`apps/v1` -> `apps`, `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]


# --- reading -------------------------------------------------------------------------------


def read(path: Path) -> RawManifests:
    """Every object, files in path order; raises SourceReadError on a file that does not parse."""
    raw = RawManifests()
    for file in files_in(path, SUFFIXES):
        documents = [json_document(file)] if file.suffix.lower() == ".json" else yaml_documents(file)
        for index, body in enumerate(_unlisted(documents)):
            parsed = parse(str(file), index, body, raw.errors)
            if parsed is not None:
                raw.objects.append(parsed)
    return raw


def _unlisted(documents: list[Any]) -> Iterator[Any]:
    """The documents, a List replaced by its items. The items of a typed list (`kubectl get
    deployments -o json` answers a `DeploymentList`) may leave out their kind: it is the
    list's. A List whose `items` is no list stays whole, for `parse` to refuse."""
    for document in documents:
        kind = document.get("kind") if isinstance(document, dict) else None
        items = document.get("items") if isinstance(document, dict) else None
        if isinstance(kind, str) and kind.endswith(LIST_SUFFIX) and isinstance(items, list):
            item_kind = kind.removesuffix(LIST_SUFFIX)
            for item in items:
                if item_kind and isinstance(item, dict) and "kind" not in item:
                    item = {**item, "kind": item_kind}
                yield item
        elif not (kind == LIST_KIND and items is None):  # an empty List holds nothing
            yield document


def parse(file: str, index: int, body: Any, errors: list[LoadError]) -> Read[Manifest] | None:
    """The object in the shape of its kind, or None after errors naming each bad field."""
    if not isinstance(body, dict):
        errors.append(LoadError(Location(file, None, "object", index), None,
                                "a manifest is a mapping (apiVersion, kind, metadata...)"))
        return None
    api_version, kind = body.get("apiVersion"), body.get("kind")
    section = kind if isinstance(kind, str) and kind else "object"
    location = Location(file, body.get(LINE_KEY), section, index)
    if section.endswith(LIST_SUFFIX) and body.get("items") is not None:  # left whole by `_unlisted`
        errors.append(LoadError(_at_path(location, body, ("items",)), "items",
                                "a List's objects are read from its `items` list, at the top of a document"))
        return None
    group = api_group(api_version) if isinstance(api_version, str) else ""
    shape = READ_KINDS.get((group, section), Manifest)
    try:
        manifest = shape.model_validate(body)
    except ValidationError as error:
        errors += [LoadError(_at_path(location, body, detail["loc"]), _field_path(detail["loc"]),
                             detail["msg"].removeprefix("Value error, "))
                   for detail in error.errors()]
        return None
    metadata = manifest.metadata
    return Read(manifest, object_key(metadata.namespace, manifest.kind, metadata.name), metadata.namespace, location)


def _at_path(location: Location, body: dict[str, Any], path: tuple[int | str, ...]) -> Location:
    """`location` on the line of the deepest key of `path` that the document has."""
    line, node = location.line, body
    for part in path:
        if isinstance(node, dict):
            line = node.get(FIELD_LINES_KEY, {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = node.get(LINE_KEY, line) if isinstance(node, dict) else line
        else:
            break
    return Location(location.file, line, location.section, location.index)


def _field_path(path: tuple[int | str, ...]) -> str:
    """`("spec", "ports", 0, "port")` -> `spec.ports[0].port`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
