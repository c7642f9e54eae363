"""NetBox: a directory of REST API responses (sites, devices, virtual machines, clusters,
interfaces, cables, IP addresses) as data centres, hardware, VMs and the cabled network path.
See docs/importers/netbox.md."""

from loaders.netbox import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="netbox",
    description="NetBox REST API responses, one JSON file per endpoint (devices.json, cables.json, ...)",
    get=get.read,
    transform=transform.transform,
)
