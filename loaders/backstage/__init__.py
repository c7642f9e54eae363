"""Backstage software catalog files (`catalog-info.yaml` and friends) as CIs: Components,
Resources, APIs, Systems and Domains, with Groups as their owning teams."""

from loaders.backstage import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="backstage",
    description="Backstage catalog YAML (a file, or a directory searched for .yaml/.yml)",
    get=get.read,
    transform=transform.transform,
)
