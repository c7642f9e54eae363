"""Kubernetes manifests (YAML or JSON, as applied or as `kubectl get -o yaml` prints them) as
CIs: workloads, Services and Ingresses, and the dependencies that selectors, Ingress backends
and container environments say. See docs/importers/kubernetes.md."""

from loaders.kubernetes import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="kubernetes",
    description="Kubernetes manifests (a multi-document YAML file, or a directory searched for .yaml/.yml/.json)",
    get=get.read,
    transform=transform.transform,
)
