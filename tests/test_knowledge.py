"""Knowledge search on the real full-text index: articles and known errors, best first, user
text searched as words (never as Lucene syntax), through the store, the CLI and GraphQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.knowledge import KnowledgeSearchError, lucene_query, search_knowledge
from cmdb_graph.store import Store
from loaders.native import load_paths

KB = """
cis:
  - {id: db-1, class: Database, name: orders-db}
  - {id: app-1, class: Application, name: orders}
knowledge_articles:
  - {id: KB-1, title: Oracle snapshot too old, body: "ORA-01555 during long reports: raise undo retention", about: [db-1]}
  - {id: KB-2, title: Restart the orders app, body: "a rolling restart clears stuck sessions", about: [app-1]}
problems:
  - {id: PRB-1, title: Undo tablespace exhausted, symptoms: "ORA-01555 snapshot too old", root_cause: undo too small,
     workaround: "run reports off the standby", known_error: true, status: known_error, root_cause_in: [db-1]}
  - {id: PRB-2, title: Snapshot errors under investigation, symptoms: "snapshot too old", status: investigating}
"""


@pytest.fixture
def kb(store: Store, tmp_path: Path) -> Store:
    document = tmp_path / "kb.yaml"
    document.write_text(KB, encoding="utf-8")
    assert load_paths(store, [document], actor="test").ok
    store.rows("CALL db.awaitIndexes(60)")
    return store


def test_lucene_syntax_in_what_users_type_is_searched_as_words():
    assert lucene_query('ORA-01555 "snapshot" AND (old)') == r'ORA\-01555 \"snapshot\" and \(old\)'
    with pytest.raises(KnowledgeSearchError):
        lucene_query("   ")


def test_articles_and_known_errors_match_but_problems_still_open_do_not(kb: Store):
    hits = search_knowledge(kb, "snapshot too old")
    assert {(h.kind, h.id) for h in hits} == {("KnowledgeArticle", "KB-1"), ("KnownError", "PRB-1")}
    error = next(h for h in hits if h.id == "PRB-1")
    assert error.workaround == "run reports off the standby" and error.ci_ids == ["db-1"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_an_error_code_with_a_hyphen_is_found(kb: Store):
    assert {h.id for h in search_knowledge(kb, "ORA-01555")} == {"KB-1", "PRB-1"}
    assert [h.id for h in search_knowledge(kb, "rolling restart")] == ["KB-2"]
    assert search_knowledge(kb, "nothing-like-this") == []


def test_kb_search_on_the_command_line(kb: Store, neo4j_env):
    result = CliRunner().invoke(app, ["kb", "search", "ORA-01555", "--json"])
    assert result.exit_code == 0, result.output
    assert {hit["id"] for hit in json.loads(result.stdout)} == {"KB-1", "PRB-1"}
    empty = CliRunner().invoke(app, ["kb", "search", " "])
    assert empty.exit_code == 1 and "at least one word" in empty.output
