# The two commands of the README: `make demo` and `make test`. Both set up .venv first (scripts/setup.sh).
.PHONY: setup demo test test-fast bench clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/python -m pytest -q

# Unit tests only (tiny seeded model, no SmolLM2): seconds, for the edit-test loop.
test-fast: setup
	.venv/bin/python -m pytest -q -m "not integration"

bench: setup
	.venv/bin/python benchmarks/exemplars.py
	.venv/bin/python benchmarks/fit.py
	.venv/bin/python benchmarks/store.py --db bench.lbdb --keep
	.venv/bin/python benchmarks/queries.py --db bench.lbdb
	.venv/bin/python benchmarks/quality.py --out bench-quality
	rm -f bench.lbdb*

clean:
	rm -rf demo-output .pytest_cache
