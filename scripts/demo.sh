#!/usr/bin/env bash
# The main job end to end on a small slice of the offline default model (SmolLM2-135M, layers 0-2) and corpus
# (the Python standard library): exemplars, graphs, the store, and searches over it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT="${DEMO_OUT:-demo-output}"

echo "== 1. exemplars: top-20 windows of every neuron in layers 0-2 (3 x 1536 neurons) =="
"$BIN/n2g" exemplars --model smollm2-135m --corpus python-stdlib --layers 0:2 \
  --max-tokens 50000 --max-windows-per-doc 8 --out "$OUT/exemplars"

echo
echo "== neurons whose top windows peak on 'import' =="
"$BIN/n2g" show --exemplars "$OUT/exemplars" --peak-token import --top 5
NEURON=$("$BIN/python" - "$OUT/exemplars" <<'PY'
import sys
from n2g.exemplars.display import peak_token_neurons
from n2g.exemplars.files import ExemplarSet
from n2g.model.loading import load_tokenizer
ex = ExemplarSet(sys.argv[1])
hits = peak_token_neurons(ex, "import", load_tokenizer("smollm2-135m"))
print(f"{hits[0][2]}:{hits[0][3]}" if hits else "")
PY
)
if [ -n "$NEURON" ]; then
  echo
  echo "== the strongest of them, $NEURON: its top windows, peak token in [[ ]] =="
  "$BIN/n2g" show "$NEURON" --exemplars "$OUT/exemplars" --top 8
fi

FIT_NEURON="${NEURON:-0:0}"
FIT_LAYER="${FIT_NEURON%%:*}"
FIT_INDEX="${FIT_NEURON##*:}"
echo
echo "== 2. graphs: fit neurons 0-63 of layer $FIT_LAYER and neuron $FIT_NEURON, many neurons per forward pass =="
"$BIN/n2g" fit --exemplars "$OUT/exemplars" --out "$OUT/graphs" --layers "$FIT_LAYER" \
  --neurons "0:63,$FIT_INDEX"

echo
echo "== neuron $FIT_LAYER:$FIT_INDEX as a graph: its patterns, and its scores against the paper's baselines =="
"$BIN/n2g" show "$FIT_LAYER:$FIT_INDEX" --graphs "$OUT/graphs"
"$BIN/n2g" show "$FIT_LAYER:$FIT_INDEX" --graphs "$OUT/graphs" --format svg --out "$OUT/neuron_${FIT_LAYER}_${FIT_INDEX}.svg"

echo
echo "== the graph predicting its neuron on new text =="
"$BIN/n2g" predict "$FIT_LAYER:$FIT_INDEX" "import os
from typing import Any
x = 1  # not an import" --graphs "$OUT/graphs"

echo
echo "== 3. the store: load the fitted graphs into an embedded LadybugDB file =="
rm -f "$OUT"/n2g.lbdb*
"$BIN/n2g" load --graphs "$OUT/graphs" --db "$OUT/n2g.lbdb" --no-progress

echo
echo "== 4. search it: neurons that fire on 'import' (any form: ' import', 'Import', ...), with their evidence =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --activating-token import --limit 5
echo
TEXT='from os import path
import sys

def main(argv):
    """Join the arguments."""
    return path.join(*argv[1:])'
echo "== a text, token by token: the neurons whose graph predicts firing there, with the pattern that matched =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --text "$TEXT" --per-token 2
echo
echo "== the same text through SmolLM2 itself: real activations beside the predictions, missed firings, the"
echo "   search's own precision and recall on this text beside the graphs' held-out precision =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --text "$TEXT" --per-token 2 --verify
echo
echo "== polysemantic neurons: graphs in parts that share no token (most parts, most even first) =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --polysemantic --limit 5
echo
echo "== in-context neurons: a token both activating and in the context =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --repeated-token --limit 5
echo
echo "== neuron pairs whose token sets lie one inside the other (>= 0.9), confirmed by how they co-activate =="
"$BIN/n2g-search" --db "$OUT/n2g.lbdb" --duplicates --mode subset --same-layer --limit 5
echo
echo "== your own Cypher: the tokens most neurons fire on =="
echo 'MATCH (n:Neuron)-[:ACTIVATES_ON]->(t:Token) RETURN t.text AS token, count(n) AS neurons
ORDER BY neurons DESC, token LIMIT $k' | "$BIN/n2g-search" --db "$OUT/n2g.lbdb" --cypher - --param k=5
echo
echo "The whole pipeline in one resumable command: n2g ingest --layers 0 --neurons 0:16 (see README)."
echo "Output of this demo: $OUT/."
echo
echo "== browse it: search page, neuron pages (graph, scores, shaded windows), model page, JSON API =="
echo "$BIN/n2g serve --db $OUT/n2g.lbdb      # then open http://127.0.0.1:8000/ (Ctrl-C stops)"
