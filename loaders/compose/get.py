"""Read Docker Compose files: one named file, or every compose file under a directory. Like
Compose itself, a directory holding several of the standard names is read through the first
one in Compose's order of preference; the others are passed on to be reported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaders.sync.files import SourceReadError, yaml_documents

# The file names Compose looks for, in its order of preference.
STANDARD_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


@dataclass(frozen=True)
class RawComposeFile:
    file: str
    directory: str  # the name of the folder holding the file: the project name when it sets none
    body: dict[str, Any]  # as parsed: its mappings still carry LINE_KEY and FIELD_LINES_KEY


@dataclass(frozen=True)
class RawCompose:
    files: list[RawComposeFile]
    ignored: list[tuple[str, str]]  # (a file not read, the file read instead in its directory)


def read(path: Path) -> RawCompose:
    if not path.exists():
        raise SourceReadError.at(str(path), None, "no such file or directory")
    if path.is_file():
        return RawCompose([read_file(path)], [])
    chosen, ignored = compose_files(path)
    if not chosen:
        raise SourceReadError.at(str(path), None, f"no {', '.join(STANDARD_NAMES)} here")
    return RawCompose([read_file(file) for file in chosen], ignored)


def compose_files(directory: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The preferred compose file of each folder under `directory`, in path order, and the
    other standard-named files beside them."""
    by_folder: dict[Path, list[Path]] = {}
    for file in directory.rglob("*"):
        if file.name in STANDARD_NAMES and file.is_file():
            by_folder.setdefault(file.parent, []).append(file)
    chosen: list[Path] = []
    ignored: list[tuple[str, str]] = []
    for folder in sorted(by_folder):
        first, *others = sorted(by_folder[folder], key=lambda f: STANDARD_NAMES.index(f.name))
        chosen.append(first)
        ignored += [(str(other), str(first)) for other in others]
    return chosen, ignored


def read_file(path: Path) -> RawComposeFile:
    documents = yaml_documents(path)
    if not documents:
        raise SourceReadError.at(str(path), None, "empty compose file")
    if len(documents) > 1:
        raise SourceReadError.at(str(path), None, "several YAML documents in one compose file are not read yet")
    body = documents[0]
    if not isinstance(body, dict):
        raise SourceReadError.at(str(path), None, "a compose file must be a mapping (services:, volumes:, ...)")
    return RawComposeFile(str(path), path.resolve().parent.name, body)
