"""The impact map: the web page `cmdb-graph serve` serves at `/`. Its source is the npm project
in `web/`; `npm run build` there writes the bundle into `static/` here (not committed), which
the package ships as package data."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
ASSETS = STATIC / "assets"
PAGE = STATIC / "index.html"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cmdb-graph: the impact map is not built</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; max-width: 44em; margin: 3em auto">
<h1>The impact map is not built</h1>
<p>This service has no page to show at <code>/</code> because the front end was never built into
<code>cmdb_graph/web/static/</code>. From the repository, run</p>
<pre>bash scripts/bootstrap.sh</pre>
<p>(it runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>), or by hand:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then reload. The GraphQL API at <a href="/graphql"><code>/graphql</code></a> works without it.</p>
</body></html>
"""
