"""The native import format: one YAML or JSON document, or a `cis.csv` + `relationships.csv`
pair, that says everything the model holds. See docs/import-format.md."""

from loaders.native.load import LoadReport, load_document, load_paths

__all__ = ["LoadReport", "load_document", "load_paths"]
