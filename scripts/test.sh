#!/usr/bin/env bash
# Installs everything and runs the whole test suite against a real Neo4j (NEO4J_URI if set,
# else testcontainers where a Docker engine answers, else the project's local launcher).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
