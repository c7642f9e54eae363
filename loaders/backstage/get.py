"""Read a Backstage catalog: every document of every `.yaml`/`.yml` file under a directory
(or of one file), each remembering its file, its position in the file and its lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaders.sync.files import files_in, yaml_documents

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RawDocument:
    file: str
    index: int  # the document's position among the file's non-empty documents
    body: Any  # as parsed: its mappings still carry LINE_KEY and FIELD_LINES_KEY


@dataclass(frozen=True)
class RawCatalog:
    documents: list[RawDocument]


def read(path: Path) -> RawCatalog:
    """Every document, files in path order; raises SourceReadError on a file that is not YAML."""
    return RawCatalog([
        RawDocument(str(file), index, body)
        for file in files_in(path, SUFFIXES)
        for index, body in enumerate(yaml_documents(file))
    ])
