"""The native CSV pair (`cis.csv` + `relationships.csv`, see docs/import-format.md) as a
source that syncs: its ids are CMDB ids, and what a later export no longer holds is retired."""

from loaders.csv import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="csv",
    description="the native CSV pair: cis*.csv and relationships*.csv",
    get=get.read,
    transform=transform.transform,
    keys_are_ids=True,
)
