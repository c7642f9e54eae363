"""cmdb-graph: a graph-backed CMDB with impact analysis."""

__version__ = "0.1.0"
