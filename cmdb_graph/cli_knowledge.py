"""`cmdb-graph kb search TEXT`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cmdb_graph.cli import app, connected, fail, out, print_json, settings
from cmdb_graph.knowledge import KnowledgeSearchError, search_knowledge
from cmdb_graph.store import Store

kb_app = typer.Typer(help="The knowledge base: articles and known errors.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")


@kb_app.command("search")
def kb_search(
    text: Annotated[str, typer.Argument(help="words to look for in titles, bodies, symptoms, causes and workarounds")],
    limit: Annotated[int, typer.Option(help="at most this many hits (1-100)")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Knowledge articles and known errors matching TEXT, best first, with the CIs they concern."""
    config = settings()
    with connected(config) as (target, driver):
        try:
            hits = search_knowledge(Store(driver, target.database), text, limit)
        except KnowledgeSearchError as error:
            fail(str(error))
    if as_json:
        print_json([hit.model_dump() for hit in hits])
        return
    if not hits:
        out.print("nothing found")
        return
    table = Table("score", "kind", "id", "title", "CIs")
    for hit in hits:
        table.add_row(f"{hit.score:.2f}", hit.kind, hit.id, hit.title, ", ".join(hit.ci_ids))
    out.print(table)
