#!/usr/bin/env bash
# Installs everything (the impact map's page built too), starts the local Neo4j (unless
# NEO4J_URI points elsewhere), loads the demo enterprise and serves it: the impact map at /,
# GraphQL at /graphql. Extra arguments go to `cmdb-graph serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ -z "${NEO4J_URI:-}" ]; then
  .venv/bin/cmdb-graph neo4j start
fi
.venv/bin/cmdb-graph demo
# the address `serve` will answer on, for the lines below (its own defaults unless given)
host=127.0.0.1 port=8000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --host) host="${args[i + 1]:-$host}" ;;
    --host=*) host="${args[i]#--host=}" ;;
    --port) port="${args[i + 1]:-$port}" ;;
    --port=*) port="${args[i]#--port=}" ;;
  esac
done
# The API asks every request for a key; this one may do everything (the demo reset removed any
# earlier key). Scripts and dashboards should get keys of their own with the role they need.
key=$(.venv/bin/cmdb-graph apikey create --role admin --name "demo-admin-$(date +%Y%m%d-%H%M%S)")
cat <<NEXT

Admin API key for this demo (shown once; send it as "Authorization: Bearer <key>"):

  $key

The impact map: http://$host:$port/ (it asks for the key, and keeps it while the tab is open)

  curl -s http://$host:$port/graphql -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' -d '{"query": "{ me { name role } }"}'

In GraphiQL (http://$host:$port/graphql), put {"Authorization": "Bearer $key"} under Headers.
NEXT
cat <<'NEXT'
Also try:  .venv/bin/cmdb-graph ci show svc-online-shop
           .venv/bin/cmdb-graph ci history db-orders
           .venv/bin/cmdb-graph neo4j stop      (after stopping the service)
NEXT
exec .venv/bin/cmdb-graph serve "$@"
