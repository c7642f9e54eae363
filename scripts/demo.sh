#!/usr/bin/env bash
# Installs everything, starts the local Neo4j (unless NEO4J_URI points elsewhere), loads the
# demo enterprise and serves it over GraphQL. Extra arguments go to `cmdb-graph serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ -z "${NEO4J_URI:-}" ]; then
  .venv/bin/cmdb-graph neo4j start
fi
.venv/bin/cmdb-graph demo
# The API asks every request for a key; this one may do everything (the demo reset removed any
# earlier key). Scripts and dashboards should get keys of their own with the role they need.
key=$(.venv/bin/cmdb-graph apikey create --role admin --name "demo-admin-$(date +%Y%m%d-%H%M%S)")
cat <<NEXT

Admin API key for this demo (shown once; send it as "Authorization: Bearer <key>"):

  $key

  curl -s http://127.0.0.1:8000/graphql -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' -d '{"query": "{ me { name role } }"}'

In GraphiQL, put {"Authorization": "Bearer $key"} under Headers.
NEXT
cat <<'NEXT'
Also try:  .venv/bin/cmdb-graph ci show svc-online-shop
           .venv/bin/cmdb-graph ci history db-orders
           .venv/bin/cmdb-graph neo4j stop      (after stopping the service)
NEXT
exec .venv/bin/cmdb-graph serve "$@"
