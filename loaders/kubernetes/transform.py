"""Kubernetes manifests as CIs: workloads (Deployment, StatefulSet, DaemonSet) as
Applications, or as Databases and Middleware when they run a known datastore or broker
image; Services and Ingresses as LoadBalancers. ConfigMaps are no CIs: they are read to
resolve environment values.

Edges point from the dependent to what it needs, all DEPENDS_ON:
- a Service needs the workloads whose pod labels its selector picks;
- an Ingress needs the Services its backends name;
- a workload needs the Services its containers' environment points at, by value, through a
  ConfigMap key (`configMapKeyRef`) or through every key of a ConfigMap (`envFrom`).

A key is `<namespace>/<kind in lower case>/<name>` (`shop/deployment/web`): what the API
server itself knows the object by, so a re-export gives the same keys.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cmdb_graph.model import CIClass, Environment
from loaders.kubernetes.get import (
    Backend,
    ConfigMap,
    ConfigMapKeyRef,
    ConfigMapRef,
    Ingress,
    IngressSpec,
    Manifest,
    RawManifests,
    Read,
    Service,
    ServicePort,
    Workload,
    object_key,
)
from loaders.native.get import Location
from loaders.sync.addresses import image_class, variable_hosts
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_VALUE, SourceBatch, safe_id

CLUSTER_DOMAIN = "cluster.local"
NAMESPACE = ("v1", "Namespace")  # (apiVersion, kind): not read, but it says a namespace exists
HEADLESS = "None"  # the clusterIP of a Service without one
POD_SPEC = "spec.template.spec"  # where a workload's containers are

# A workload's class by the repository name of its images (IMAGE_CLASSES of
# loaders/sync/addresses.py): a pod that runs one of those is that datastore or broker,
# whatever sidecars (exporters, proxies) it has. Init containers do not count: they often
# borrow a client image (`postgres` to wait for a database). Every other workload is an
# Application.
CLASS_PRECEDENCE = (CIClass.DATABASE, CIClass.MIDDLEWARE)  # a pod running both is a Database
WORKLOAD_DEFAULT = CIClass.APPLICATION

# Labels that may say a CI's environment, in this order, and the values they may say it
# with. A value outside the table leaves the default; for `environment` and `env` that is
# reported, `tier` names a layer (frontend, backend) as often as an environment.
ENVIRONMENT_LABELS = ("environment", "env", "tier")
REPORTED_ENVIRONMENT_LABELS = ("environment", "env")
ENVIRONMENTS: dict[str, Environment] = {
    "prod": Environment.PRODUCTION,
    "production": Environment.PRODUCTION,
    "staging": Environment.STAGING,
    "stage": Environment.STAGING,
    "test": Environment.TEST,
    "qa": Environment.TEST,
    "dev": Environment.DEVELOPMENT,
    "development": Environment.DEVELOPMENT,
}
DEFAULT_ENVIRONMENT = Environment.PRODUCTION

# Recommended labels (app.kubernetes.io/...) kept as attributes, under these names.
LABEL_ATTRIBUTES: dict[str, str] = {
    "app.kubernetes.io/name": "app",
    "app.kubernetes.io/part-of": "part_of",
    "app.kubernetes.io/component": "component",
    "app.kubernetes.io/version": "app_version",
}
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"  # before spec.ingressClassName

# Which variables hold hosts, and how a value names them: loaders/sync/addresses.py. A name
# that is only a suffix (`HOST`, `HOSTNAME`) is not host-style here: `HOSTNAME` is the pod's
# own name, and an `envFrom` prefix is what makes a ConfigMap's `HOST` a `DB_HOST`.
SUFFIX_ALONE_IS_HOST_STYLE = False


# --- transform ---------------------------------------------------------------------------


def transform(raw: RawManifests) -> SourceBatch:
    batch = SourceBatch(errors=list(raw.errors))
    cluster = _Cluster(raw.objects, batch)
    for key in sorted(cluster.workloads):
        read = cluster.workloads[key]
        batch.add_ci(key, workload_ci(read, batch), read.location)
    for key in sorted(cluster.services):
        read = cluster.services[key]
        batch.add_ci(key, service_ci(read, batch), read.location)
    for key in sorted(cluster.ingresses):
        read = cluster.ingresses[key]
        batch.add_ci(key, ingress_ci(read, batch), read.location)
    batch.cis.sort(key=lambda ci: ci.key)
    edges = _Edges({ci.key for ci in batch.cis})
    fronted = _front(cluster, edges, batch)
    _route(cluster, edges, batch)
    _connect(cluster, fronted, edges, batch)
    edges.add_to(batch)
    return batch


# --- objects by kind ----------------------------------------------------------------------


class _Cluster:
    """The objects read, by kind and key, and the namespaces the input knows. A key seen
    twice is an error; objects of kinds not read are counted into one finding per kind."""

    def __init__(self, objects: list[Read[Manifest]], batch: SourceBatch) -> None:
        self.workloads: dict[str, Read[Workload]] = {}
        self.services: dict[str, Read[Service]] = {}
        self.ingresses: dict[str, Read[Ingress]] = {}
        self.config_maps: dict[str, Read[ConfigMap]] = {}
        self._by_shape: dict[type[Manifest], dict[str, Any]] = {
            Workload: self.workloads, Service: self.services, Ingress: self.ingresses, ConfigMap: self.config_maps,
        }
        namespaces: set[str] = set()
        skipped: dict[str, list[Location]] = {}
        for read in objects:
            manifest = read.manifest
            namespaces.add(read.namespace)
            if (manifest.api_version, manifest.kind) == NAMESPACE:
                namespaces.add(manifest.metadata.name)
            if type(manifest) is Manifest:  # a kind not read: only its kind and metadata were checked
                label = f"{manifest.kind} ({manifest.api_version or 'no apiVersion'})"
                skipped.setdefault(label, []).append(read.location)
            else:
                self._add(read, batch)
        self.namespaces = frozenset(namespaces)
        for label, locations in skipped.items():
            count = f"{len(locations)} object{'' if len(locations) == 1 else 's'}"
            batch.report(locations[0], SKIPPED, f"kind: {label} is not read; {count} skipped")

    def _add(self, read: Read[Manifest], batch: SourceBatch) -> None:
        by_key = self._by_shape[type(read.manifest)]
        first = by_key.get(read.key)
        if first is not None:
            where = f"{first.location.file}:{first.location.line}" if first.location.line else first.location.file
            batch.error(read.at(read.manifest.metadata.line_of("name")), "metadata.name",
                        f"duplicate {read.key}; first defined at {where}")
            return
        by_key[read.key] = read


# --- CIs -------------------------------------------------------------------------------------


def service_key(namespace: str, name: str) -> str:
    return object_key(namespace, "Service", name)


def workload_class(images: list[str]) -> CIClass:
    found = {image_class(image) for image in images}
    return next((ci_class for ci_class in CLASS_PRECEDENCE if ci_class in found), WORKLOAD_DEFAULT)


def workload_ci(read: Read[Workload], batch: SourceBatch) -> dict[str, Any]:
    """Labels are the pod template's, overridden by the workload's own; images are those of
    its containers, init containers left out."""
    manifest = read.manifest
    pod = manifest.spec.template
    labels = {**pod.metadata.labels, **manifest.metadata.labels}
    images = list(dict.fromkeys(c.image for c in pod.spec.containers if c.image))
    replicas = None if manifest.kind == "DaemonSet" else manifest.spec.replicas
    return {
        "id": safe_id(read.key),
        "class": workload_class(images).value,
        "name": manifest.metadata.name,
        "environment": environment(labels, read, batch).value,
        "attributes": _present({**_common_attributes(read, labels), "images": images, "replicas": replicas}),
    }


def service_ci(read: Read[Service], batch: SourceBatch) -> dict[str, Any]:
    manifest, spec = read.manifest, read.manifest.spec
    labels = manifest.metadata.labels
    attributes = {
        **_common_attributes(read, labels),
        "type": spec.type,
        "ports": [port_text(port) for port in spec.ports],
        "selector": ",".join(f"{key}={value}" for key, value in sorted(spec.selector.items())),
        "headless": spec.cluster_ip == HEADLESS or None,
        **cluster_ip_attributes(cluster_ips(read, batch)),
        "external_name": spec.external_name,
    }
    return _load_balancer_ci(read, labels, attributes, batch)


def ingress_ci(read: Read[Ingress], batch: SourceBatch) -> dict[str, Any]:
    manifest, spec = read.manifest, read.manifest.spec
    labels = manifest.metadata.labels
    hosts = {rule.host for rule in spec.rules if rule.host} | {host for tls in spec.tls for host in tls.hosts}
    attributes = {
        **_common_attributes(read, labels),
        "hosts": sorted(hosts),
        "ingress_class": spec.ingress_class_name or manifest.metadata.annotations.get(INGRESS_CLASS_ANNOTATION),
    }
    return _load_balancer_ci(read, labels, attributes, batch)


def _load_balancer_ci(read: Read[Manifest], labels: dict[str, str], attributes: dict[str, Any],
                      batch: SourceBatch) -> dict[str, Any]:
    """Services and Ingresses alike: a LoadBalancer CI named after the object."""
    return {
        "id": safe_id(read.key),
        "class": CIClass.LOAD_BALANCER.value,
        "name": read.manifest.metadata.name,
        "environment": environment(labels, read, batch).value,
        "attributes": _present(attributes),
    }


def _common_attributes(read: Read[Manifest], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "namespace": read.namespace,
        "kind": read.manifest.kind,
        **{name: labels[label] for label, name in LABEL_ATTRIBUTES.items() if label in labels},
    }


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value not in (None, "", [])}


def environment(labels: dict[str, str], read: Read[Manifest], batch: SourceBatch) -> Environment:
    for label in ENVIRONMENT_LABELS:
        found = ENVIRONMENTS.get(labels.get(label, "").strip().lower())
        if found is not None:
            return found
    unplaced = [f"{label}={labels[label]}" for label in REPORTED_ENVIRONMENT_LABELS if label in labels]
    if unplaced:
        batch.report(read.at(read.manifest.metadata.line_of("labels")), UNKNOWN_VALUE,
                     f"metadata.labels: {read.key}: {', '.join(unplaced)} is no environment "
                     f"({', '.join(ENVIRONMENTS)}); {DEFAULT_ENVIRONMENT.value} assumed")
    return DEFAULT_ENVIRONMENT


def port_text(port: ServicePort) -> str:
    """As `kubectl get services` shows a port: `80/TCP`, or `80:30080/TCP` with a node port."""
    node_port = f":{port.node_port}" if port.node_port else ""
    return f"{port.port}{node_port}/{port.protocol}"


def cluster_ip_attributes(addresses: list[str]) -> dict[str, Any]:
    """`cluster_ip`: the Service's (first) cluster IP; `cluster_ips`: all of them, for a
    dual-stack Service that has two. Not `ip_addresses`: the sync layer identifies a
    LoadBalancer by its addresses, and cluster IPs (10.96.0.10) repeat from cluster to
    cluster, which would merge two clusters' Services."""
    return {"cluster_ip": addresses[0] if addresses else None,
            "cluster_ips": addresses if len(addresses) > 1 else None}


def cluster_ips(read: Read[Service], batch: SourceBatch) -> list[str]:
    """The Service's cluster IPs; `None` (headless) is none, a value that is no IP address
    is reported and left out."""
    spec = read.manifest.spec
    addresses = []
    for value in dict.fromkeys(([spec.cluster_ip] if spec.cluster_ip else []) + spec.cluster_ips):
        if value in ("", HEADLESS):
            continue
        try:
            addresses.append(str(ipaddress.ip_address(value.split("/", 1)[0])))
        except ValueError:
            batch.report(read.at(spec.line_of("clusterIP")), UNKNOWN_VALUE,
                         f"spec.clusterIP: {read.key}: {value!r} is no IP address; left out")
    return addresses


# --- edges -----------------------------------------------------------------------------------


class _Edges:
    """DEPENDS_ON edges between CIs of the batch, each once (where first found), sorted."""

    def __init__(self, keys: set[str]) -> None:
        self._keys = keys
        self._found: dict[tuple[str, str], Location] = {}

    def add(self, source: str, target: str, location: Location) -> None:
        if source in self._keys and target in self._keys:  # a CI refused is an error already
            self._found.setdefault((source, target), location)

    def add_to(self, batch: SourceBatch) -> None:
        for (source, target), location in sorted(self._found.items()):
            batch.depends(source, target, location)


def _front(cluster: _Cluster, edges: _Edges, batch: SourceBatch) -> dict[str, set[str]]:
    """Each Service needs the workloads in its namespace whose pod template has every label
    of its selector. Returns Service key -> the workloads it fronts."""
    pods: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (namespace, label, value) -> workloads
    for key, workload in cluster.workloads.items():
        for label, value in workload.manifest.spec.template.metadata.labels.items():
            pods[(workload.namespace, label, value)].add(key)
    fronted: dict[str, set[str]] = {}
    for key in sorted(cluster.services):
        read = cluster.services[key]
        selector = read.manifest.spec.selector
        if not selector:  # ExternalName, or Endpoints kept by hand
            continue
        matches = [pods.get((read.namespace, label, value), set()) for label, value in selector.items()]
        smallest = min(matches, key=len)
        fronted[key] = {workload for workload in smallest if all(workload in match for match in matches)}
        where = read.at(read.manifest.spec.line_of("selector"))
        for workload in sorted(fronted[key]):
            edges.add(key, workload, where)
        if not fronted[key]:
            pairs = ", ".join(f"{label}={value}" for label, value in selector.items())
            batch.report(where, DANGLING, f"spec.selector: Service {key} fronts no workload: no Deployment, "
                                          f"StatefulSet or DaemonSet in {read.namespace} has pod labels {pairs}")
    return fronted


def _route(cluster: _Cluster, edges: _Edges, batch: SourceBatch) -> None:
    """Each Ingress needs the Services its rules and its default backend name."""
    for key in sorted(cluster.ingresses):
        read = cluster.ingresses[key]
        for path, backend, line in _backends(read.manifest.spec):
            name = backend.service_named
            if name is None:
                batch.report(read.at(line), SKIPPED, f"{path}: {key}: a resource backend is not read")
                continue
            target = service_key(read.namespace, name)
            if target in cluster.services:
                edges.add(key, target, read.at(line))
            else:
                batch.report(read.at(line), DANGLING, f"{path}: Ingress {key} routes to Service {name}, "
                                                      f"which is not in {read.namespace}")


def _backends(spec: IngressSpec) -> Iterator[tuple[str, Backend, int | None]]:
    """(field path, backend, line) of every backend, the default ones first."""
    for name, backend in (("defaultBackend", spec.default_backend), ("backend", spec.backend)):
        if backend is not None:
            yield f"spec.{name}", backend, spec.line_of(name)
    for i, rule in enumerate(spec.rules):
        for j, path in enumerate(rule.http.paths if rule.http else []):
            yield f"spec.rules[{i}].http.paths[{j}].backend", path.backend, path.line_of("backend")


@dataclass(frozen=True)
class Variable:
    """One environment variable of a container, with the value it gets."""

    field: str  # its `env` or `envFrom` entry: spec.template.spec.containers[0].env[2]
    name: str
    value: str
    line: int | None


def _connect(cluster: _Cluster, fronted: dict[str, set[str]], edges: _Edges, batch: SourceBatch) -> None:
    """Each workload needs the Services its environment points at; a host in cluster form
    that names no Service is reported, a host outside the cluster is not looked at."""
    services = frozenset(cluster.services)
    for key in sorted(cluster.workloads):
        read = cluster.workloads[key]
        for variable in _variables(read, cluster, batch):
            for host in variable_hosts(variable.name, variable.value, suffix_alone=SUFFIX_ALONE_IS_HOST_STYLE):
                target = cluster_service(host, read.namespace, cluster.namespaces, services)
                if target is None or fronted.get(target) == {key}:  # outside, or the workload's own
                    continue
                if target in services:
                    edges.add(key, target, read.at(variable.line))
                else:
                    batch.report(read.at(variable.line), DANGLING,
                                 f"{variable.field}: {key}: {variable.name} names host {host!r}, "
                                 f"but there is no Service {target}")


def _variables(read: Read[Workload], cluster: _Cluster, batch: SourceBatch) -> Iterator[Variable]:
    """The variables of every container and init container, ConfigMap references resolved."""
    pod = read.manifest.spec.template.spec
    for list_name, containers in (("containers", pod.containers), ("initContainers", pod.init_containers)):
        for i, container in enumerate(containers):
            at = f"{POD_SPEC}.{list_name}[{i}]"
            for j, variable in enumerate(container.env):
                field = f"{at}.env[{j}]"
                key_ref = variable.value_from.config_map_key_ref if variable.value_from else None
                if variable.value is not None:
                    yield Variable(field, variable.name, variable.value, variable.line)
                elif key_ref is not None:
                    data = _config_map_data(read, field, key_ref, variable.line, cluster, batch)
                    if data is not None and key_ref.key in data:
                        yield Variable(field, variable.name, data[key_ref.key], variable.line)
                    elif data is not None and not key_ref.optional:
                        batch.report(read.at(variable.line), DANGLING,
                                     f"{field}: {read.key}: {variable.name} reads key {key_ref.key!r} "
                                     f"of ConfigMap {key_ref.name}, which has no such key")
            for j, source in enumerate(container.env_from):
                field = f"{at}.envFrom[{j}]"
                ref = source.config_map_ref
                data = _config_map_data(read, field, ref, source.line, cluster, batch) if ref is not None else None
                for name, value in (data or {}).items():
                    yield Variable(field, source.prefix + name, value, source.line)


def _config_map_data(read: Read[Workload], field: str, ref: ConfigMapRef | ConfigMapKeyRef, line: int | None,
                     cluster: _Cluster, batch: SourceBatch) -> dict[str, str] | None:
    """The data of the ConfigMap `ref` names in the workload's namespace; a missing one is
    reported, unless the reference is optional."""
    config_map = cluster.config_maps.get(object_key(read.namespace, "ConfigMap", ref.name))
    if config_map is None:
        if not ref.optional:
            batch.report(read.at(line), DANGLING,
                         f"{field}: {read.key} reads ConfigMap {ref.name}, which is not in {read.namespace}")
        return None
    return config_map.manifest.data


def cluster_service(host: str, namespace: str, namespaces: frozenset[str], services: frozenset[str]) -> str | None:
    """The key of the Service that `host` names in cluster DNS form, seen from `namespace`,
    whether that Service exists or not; None for a host outside the cluster.

    Cluster forms: `svc`, `svc.ns` (when the input has namespace `ns`), `svc.ns.svc` and
    `svc.ns.svc.cluster.local`; and a StatefulSet pod behind a headless Service:
    `pod.svc.ns.svc[.cluster.local]`, or `pod.svc` when `svc` is a Service of `namespace`.
    """
    labels = host.split(".")
    in_cluster_domain = host.endswith(f".{CLUSTER_DOMAIN}")
    if in_cluster_domain:
        labels = labels[: -len(CLUSTER_DOMAIN.split("."))]
    if labels[-1] == "svc" and len(labels) in (3, 4):
        return service_key(labels[-2], labels[-3])
    if in_cluster_domain:  # a pod's own name, or no form at all
        return None
    if len(labels) == 1:
        return service_key(namespace, host)
    if len(labels) == 2:
        if labels[1] in namespaces:
            return service_key(labels[1], labels[0])
        headless = service_key(namespace, labels[1])
        if headless in services:
            return headless
    return None

