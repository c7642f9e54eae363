"""ServiceNow: a `cmdb_ci` export and its `cmdb_rel_ci` relationships (CSV or JSON), keyed by
sys_id. See docs/importers/servicenow.md."""

from loaders.servicenow import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="servicenow",
    description="ServiceNow CMDB export: cmdb_ci and cmdb_rel_ci tables as CSV or JSON (JSONv2, Table API)",
    get=get.read,
    transform=transform.transform,
)
