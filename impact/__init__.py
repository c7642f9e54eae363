"""The analyses (impact, dependencies, blast radius, root cause, change impact, continuity,
CMDB health): one module each, with its Cypher beside its one public entry point."""
