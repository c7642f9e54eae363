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
cat <<'NEXT'

Also try:  .venv/bin/cmdb-graph ci show svc-online-shop
           .venv/bin/cmdb-graph ci history db-orders
           .venv/bin/cmdb-graph neo4j stop      (after stopping the service)
NEXT
exec .venv/bin/cmdb-graph serve "$@"
