#!/usr/bin/env bash
# The bulk path into Neo4j, the fastest first load of a whole model: export an ingest work directory as CSV,
# load it with `neo4j-admin database import full` into the stopped server's volume (the command of import.sh, which
# `n2g neo4j import` runs too), restart, run schema.cypher (its password from the environment, not the command line).
# It REPLACES the database `neo4j`. Run from anywhere, after the graphs are fitted (e.g. `n2g ingest` into any
# --db, or `n2g fit`):
#   bash docker/neo4j-admin-import.sh [WORK_DIR]      # WORK_DIR in the n2g-work volume, default /work/n2g-work
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
compose=(docker compose -f "$here/docker-compose.yml")
work="${1:-/work/n2g-work}"
out=/work/neo4j-import   # the neo4j-import service runs $out/import.sh

if [ -t 0 ]; then
  read -r -p "This replaces the Neo4j database 'neo4j' with the graphs of $work. Continue? [y/N] " answer
  [[ "$answer" == [yY]* ]] || exit 1
fi
echo "n2g: 1/4 export $work -> $out"
"${compose[@]}" run --rm --no-deps ingest export --format neo4j-admin "$out" --work-dir "$work"
# neo4j-admin runs as the neo4j user and writes import.report beside import.sh.
"${compose[@]}" run --rm --no-deps --entrypoint chmod ingest a+rwx "$out"
echo "n2g: 2/4 stop Neo4j, neo4j-admin database import full"
"${compose[@]}" stop neo4j
"${compose[@]}" --profile import run --rm neo4j-import
echo "n2g: 3/4 start Neo4j"
"${compose[@]}" up -d --wait neo4j
echo "n2g: 4/4 schema.cypher: constraints, indexes, the empty lists neo4j-admin cannot write; waits for the indexes"
# The same statements `n2g neo4j start` runs after `n2g neo4j import` (README: "The bulk path: neo4j-admin").
# shellcheck disable=SC2016  # ${NEO4J_AUTH#*/} expands inside the container: the password, minus "neo4j/"
"${compose[@]}" run --rm -T --no-deps --entrypoint cat ingest "$out/schema.cypher" \
  | "${compose[@]}" exec -T neo4j sh -c 'NEO4J_USERNAME=neo4j NEO4J_PASSWORD="${NEO4J_AUTH#*/}" cypher-shell'
echo "n2g: done; the server answers at bolt://localhost:7687"
