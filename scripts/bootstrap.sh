#!/usr/bin/env bash
# Installs what cmdb-graph needs into .venv (idempotent; quick when nothing changed), checks
# for the Java 17 JDK and Maven that run the local Neo4j, and builds the impact map (Node, npm
# and, for its browser tests, Chromium: from Debian when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "cmdb-graph needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$python_bin" --version)" >&2
  "$python_bin" -m venv .venv
fi

stamp=.venv/.cmdb-graph-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "installing Python dependencies into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  echo "$wanted" > "$stamp"
fi

if [ -z "${NEO4J_URI:-}" ]; then
  java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  if ! command -v "$java_bin" >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    echo "the local Neo4j needs a Java 17 JDK and Maven (Debian: apt-get install openjdk-17-jdk-headless maven)," >&2
    echo "or point NEO4J_URI at a running Neo4j 5.26" >&2
    exit 1
  fi
fi

# The impact map: Node and npm build its page; Debian's Chromium runs its browser tests.
missing=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "the impact map is built with Node and npm (Debian: sudo apt-get install nodejs npm)" >&2
    exit 1
  else
    echo "the impact map's browser tests need Debian's Chromium at /usr/bin/chromium" >&2
    echo "(sudo apt-get install chromium); they fail without it" >&2
  fi
fi

# Built again only when its sources, its lock file or the operations it sends change.
web_stamp=cmdb_graph/web/static/.source-hash
web_wanted=$(cat web/package.json web/package-lock.json web/build.mjs web/src/* graphql/operations/Map*.graphql | sha256sum | cut -d' ' -f1)
if [ ! -f "$web_stamp" ] || [ "$(cat "$web_stamp")" != "$web_wanted" ]; then
  lock_stamp=web/node_modules/.cmdb-graph-lock
  lock_wanted=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$lock_wanted" ]; then
    echo "installing the impact map's npm packages (npm ci)" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_wanted" > "$lock_stamp"
  fi
  (cd web && npm run --silent build)
  echo "$web_wanted" > "$web_stamp"
fi
