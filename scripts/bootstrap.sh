#!/usr/bin/env bash
# Installs what cmdb-graph needs into .venv (idempotent; quick when nothing changed) and checks
# for the Java 17 JDK and Maven that run the local Neo4j.
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
