# The two commands of the README: `make demo` and `make test`. Both set up .venv first (scripts/setup.sh).
.PHONY: setup demo test test-fast test-integration bench clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/python -m pytest -q

# The unit tier (tests/unit: the tiny seeded model, no subprocess, no SmolLM2): under 2 minutes, for the edit loop.
test-fast: setup
	.venv/bin/python -m pytest -q tests/unit

# The integration tier (tests/integration: SmolLM2, real kills, real stores and servers, the browser).
test-integration: setup
	.venv/bin/python -m pytest -q tests/integration

bench: setup
	.venv/bin/python benchmarks/exemplars.py
	.venv/bin/python benchmarks/fit.py
	.venv/bin/python benchmarks/store.py --db bench.lbdb --keep
	.venv/bin/python benchmarks/queries.py --db bench.lbdb
	.venv/bin/python benchmarks/quality.py --out bench-quality
	rm -f bench.lbdb*

clean:
	rm -rf demo-output .pytest_cache
