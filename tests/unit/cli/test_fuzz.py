"""Seeded random and adversarial input to `n2g-search` and the Python API: whatever the tokens, texts or `--param`
JSON, the answer is rows (exit 0) or one clear line (exit 2), never a traceback, and the store never changes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from ingest.store import open_store, snapshot
from n2g.cli.search import main as search
from n2g.errors import N2GError
from queries.search import NeuronSearch

SEED, CASES = 20_260_105, 300
NASTY = ["", " ", "\n", "\t", "'", '"', "\\", "`", "$x", "${x}", "%s", "{}", "[]", "()", "MATCH (n) DETACH DELETE n",
         "') RETURN 1 //", "\" OR 1=1 --", "\x00", "\u202e", "\ufeff", "\ud800", "é", "Import", " import", "import",
         "🙂", "a" * 5000, "\r\n", "NaN", "Infinity", "-1", "9" * 30, "1e999", "null", "true", "::", "0:1", "L:N"]


def random_text(rng: random.Random, max_len: int = 40) -> str:
    alphabet = "ab _-'\"\\\n\t$:;{}[]()éü🙂\u202e\x00" + "".join(chr(rng.randrange(32, 0x3000)) for _ in range(8))
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, max_len)))


def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 6 else 5)
    if kind == 0:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), 2**63, 10**30, rng.randrange(-1000, 1000)])
    if kind == 1:
        return rng.choice([0.5, -0.0, 1e308, float("inf"), float("nan")])
    if kind == 2:
        return rng.choice(NASTY + [random_text(rng)])
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return random_text(rng, 10)
    if kind in (5, 6):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {random_text(rng, 6) or "k": random_json(rng, depth + 1) for _ in range(rng.randrange(0, 3))}


def random_argv(rng: random.Random, db: str, cypher_file: str) -> list[str]:
    token = rng.choice(NASTY + [random_text(rng)])
    choice = rng.randrange(7)
    if choice == 0:
        argv = ["--activating-token", token]
    elif choice == 1:
        argv = ["--activating-token", token, "--context-token", rng.choice(NASTY)]
    elif choice == 2:
        argv = ["--context-token", token, "--exact"]
    elif choice == 3:
        argv = ["--similar-to", token] if rng.random() < 0.5 else ["--neuron", token]
    elif choice == 4:
        argv = ["--cypher", cypher_file, "--param", f"x={json.dumps(random_json(rng))}"]
    elif choice == 5:
        argv = ["--cypher", cypher_file, "--param", f"x={token}"]
    else:
        argv = ["--repeated-token", "--min-share", rng.choice(["0", "0.5", "nan", "-1", "1e999", token or "x"])]
    if rng.random() < 0.3:
        argv += ["--layer", rng.choice(["0", "0:3", "3,1", "-1", "0:99999999999", token or "x"])]
    if rng.random() < 0.2:
        argv += ["--model", token]
    if rng.random() < 0.2:
        argv += ["--limit", rng.choice(["1", "0", "-5", str(2**64), "x"])]
    argv += ["--format", rng.choice(["table", "json", "csv"])]
    return ["--db", db, *argv]


@pytest.fixture()
def fuzz_store(planted_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "n2g.lbdb"
    shutil.copy(planted_db, copy)
    return copy


def test_search_command_line_under_fuzz(fuzz_store: Path, tmp_path: Path, capsys) -> None:
    rng = random.Random(SEED)
    cypher = tmp_path / "q.cypher"
    cypher.write_text("RETURN $x AS x", encoding="utf-8")
    before = _snapshot(fuzz_store)
    outcomes = {0: 0, 2: 0}
    for case in range(CASES):
        argv = random_argv(rng, str(fuzz_store), str(cypher))
        code = search(argv)
        captured = capsys.readouterr()
        assert code in (0, 2), (case, argv, captured.err)
        assert "Traceback" not in captured.err + captured.out, (case, argv)
        if code == 2:
            assert len(captured.err.strip().splitlines()) == 1, (case, argv, captured.err)
        elif "--format" in argv and argv[argv.index("--format") + 1] == "json":
            json.loads(captured.out)  # strict JSON
        outcomes[code] += 1
    assert _snapshot(fuzz_store) == before
    assert outcomes[0] > 30 and outcomes[2] > 30, outcomes  # the cases reach both answers


def test_python_api_under_fuzz(fuzz_store: Path) -> None:
    rng = random.Random(SEED + 1)
    before = _snapshot(fuzz_store)
    with NeuronSearch(str(fuzz_store)) as api:
        for _ in range(CASES // 2):
            token = rng.choice(NASTY + [random_text(rng)])
            calls = [lambda t: api.activating(t), lambda t: api.context(t, exact=True),
                     lambda t: api.activating(t, context=[rng.choice(NASTY)]), lambda t: api.similar_to(t),
                     lambda _: api.query("RETURN $x AS x", x=random_json(rng))]
            try:
                frame = rng.choice(calls)(token)
                assert frame is not None
            except N2GError as err:
                assert len(str(err).splitlines()) <= 1
    assert _snapshot(fuzz_store) == before


def _snapshot(db: Path) -> dict:
    with open_store(str(db), read_only=True) as store:
        return snapshot(store)
