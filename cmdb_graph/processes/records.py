"""Writing records from a process rule: the same validation and all-or-nothing write as a
load or a mutation, so a rule can never store what a user could not."""

from __future__ import annotations

from typing import Any

from cmdb_graph.store import Store, WritePlan


class RecordError(ValueError):
    """The records a rule wanted to write are not valid; `errors` are the native-format ones
    (each with its item and field)."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:20]))
        self.errors = errors


class RuleError(ValueError):
    """A process rule refuses a write; `field` names the input field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def write_records(
    store: Store, document: dict[str, list[dict[str, Any]]], *, source: str, actor: str,
    expected: dict[tuple[str, str], int] | None = None, must_be_new: set[tuple[str, str]] | None = None,
) -> WritePlan:
    """Validate a native-format document against the model and the database, then write it
    in one transaction."""
    from loaders.native.get import read_mapping
    from loaders.native.load import check_against_database
    from loaders.native.transform import transform

    transformed = transform(read_mapping("input", document))
    if transformed.errors:
        raise RecordError(transformed.errors)
    problems = check_against_database(store, transformed)
    if problems:
        raise RecordError(problems)
    # the service's writes race each other: lock what is written, so none is lost
    return store.apply(transformed.document, source, actor, expected=expected, must_be_new=must_be_new, lock_all=True)
