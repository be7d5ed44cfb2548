"""GraphMatcher: the best complete match at every position, with gaps of one or more tokens and backtracking;
and the token keys matching compares. Patterns are written nearest context first, "*" for a gap."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from n2g.errors import N2GError
from n2g.graphs.neuron_graph import GAP, TOKEN, NeuronGraph, PatternStep
from n2g.graphs.prediction import GraphMatcher, predict
from n2g.model.token_keys import Vocabulary, normalise_token, token_key
from tests.fixed_tokenizer import FixedTextTokenizer

Pattern = tuple[str, float, Sequence[str]]  # (activating key, end activation, context nearest first; "*" = gap)


def _graph(*patterns: Pattern) -> NeuronGraph:
    graph = NeuronGraph(model="m", layer=0, neuron=0, a_max=1.0, token_matching="exact")
    for key, activation, context in patterns:
        steps = [PatternStep(GAP) if s == "*" else PatternStep(TOKEN, s, s, 1.0) for s in context]
        graph.insert(key, key, activation, 1.0, steps)
    return graph


def _predict(graph: NeuronGraph, text: str, max_gap: int | None = None) -> list[float]:
    return GraphMatcher(graph, max_gap=max_gap).predict(text.split()).tolist()


A_GAP_C = _graph(("c", 0.8, ["*", "a"]))  # `a * c`


@pytest.mark.parametrize("text", ["a b b c", "a b c", "a a c", "a c c", "x a b b b b b b c"])
def test_gap_pattern_matches_one_or_more_tokens(text: str) -> None:
    assert _predict(A_GAP_C, text)[-1] == pytest.approx(0.8)


@pytest.mark.parametrize("text", ["a c", "x b c", "c", "b c", "c b a", "b a c"])
def test_gap_pattern_needs_a_token_in_the_gap_and_the_anchor(text: str) -> None:
    assert _predict(A_GAP_C, text)[-1] == 0.0


def test_adjacent_pattern_matches_only_adjacent_tokens() -> None:
    graph = _graph(("c", 0.7, ["b"]))
    assert _predict(graph, "b c") == pytest.approx([0.0, 0.7])
    assert _predict(graph, "b x c") == [0.0, 0.0, 0.0]
    assert _predict(graph, "c") == [0.0]
    assert _predict(graph, "c b") == [0.0, 0.0]


def test_backtracks_from_a_failing_token_branch_to_the_gap() -> None:
    # root c: token child b -> z (end only at z), and a gap -> a (end at a). The token branch matches `b` in
    # `a b c` but finds no z; the gap branch (gap = `b`, then `a`) must still be found.
    graph = _graph(("c", 0.9, ["b", "z"]), ("c", 0.6, ["*", "a"]))
    root = graph.roots[0]
    assert [child.kind for child in root.children] == [TOKEN, GAP]  # the token branch is tried first
    assert _predict(graph, "a b c") == pytest.approx([0.0, 0.0, 0.6])
    assert _predict(graph, "z b c") == pytest.approx([0.0, 0.0, 0.9])


def test_backtracks_over_how_the_gap_is_filled() -> None:
    # `x a * c`: the nearest `a` is preceded by `y`, so the gap must extend past it to the earlier `a`.
    graph = _graph(("c", 0.75, ["*", "a", "x"]))
    assert _predict(graph, "x a y a b c")[-1] == pytest.approx(0.75)
    assert _predict(graph, "y a y a b c")[-1] == 0.0


def test_backtracks_through_two_gaps() -> None:
    graph = _graph(("c", 0.65, ["*", "b", "*", "a"]))  # a * b * c
    assert _predict(graph, "a x b b y c")[-1] == pytest.approx(0.65)
    assert _predict(graph, "b a x b y c")[-1] == pytest.approx(0.65)
    assert _predict(graph, "a b y c")[-1] == 0.0  # no token between a and b
    assert _predict(graph, "b x a y c")[-1] == 0.0


def test_returns_the_best_of_several_complete_matches() -> None:
    graph = _graph(("c", 0.55, []), ("c", 0.9, ["b"]), ("c", 0.7, ["*", "a"]), ("c", 0.6, ["b", "a"]))
    assert _predict(graph, "x c")[-1] == pytest.approx(0.55)
    assert _predict(graph, "a x c")[-1] == pytest.approx(0.7)
    assert _predict(graph, "a b c")[-1] == pytest.approx(0.9)  # 0.9 (b), 0.7 (a * c), 0.6 (a b), 0.55 (c)
    assert _predict(graph, "x b c")[-1] == pytest.approx(0.9)


def test_best_match_is_the_max_even_when_a_longer_match_is_worse() -> None:
    graph = _graph(("c", 0.95, ["*", "a"]), ("c", 0.6, ["*", "b", "a"]))
    assert _predict(graph, "a b x c")[-1] == pytest.approx(0.95)
    graph = _graph(("c", 0.6, ["*", "a"]), ("c", 0.95, ["*", "b", "a"]))
    assert _predict(graph, "a b x c")[-1] == pytest.approx(0.95)
    assert _predict(graph, "a x c")[-1] == pytest.approx(0.6)


def test_root_without_an_end_predicts_zero_alone() -> None:
    graph = _graph(("c", 0.8, ["b"]))
    assert not graph.roots[0].is_end
    assert _predict(graph, "a c") == [0.0, 0.0]


def test_zero_where_nothing_matches_and_at_non_root_tokens() -> None:
    graph = _graph(("c", 0.8, ["*", "a"]), ("d", 0.6, []))
    assert _predict(graph, "a b c d e") == pytest.approx([0.0, 0.0, 0.8, 0.6, 0.0])
    assert _predict(graph, "a b b b") == [0.0] * 4
    assert GraphMatcher(graph).predict([]).shape == (0,)
    assert GraphMatcher(_graph()).predict(["a", "b"]).tolist() == [0.0, 0.0]


def test_every_position_is_predicted_independently() -> None:
    graph = _graph(("c", 0.8, ["*", "a"]))
    assert _predict(graph, "c a c b c a c") == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 0.8])


def test_predict_returns_float32_and_the_helper_agrees() -> None:
    graph = _graph(("c", 0.8, ["*", "a"]), ("b", 0.6, []))
    keys = "a b b c".split()
    out = GraphMatcher(graph).predict(keys)
    assert out.dtype == np.float32
    assert np.array_equal(predict(graph, keys), out)


def test_max_gap_is_honoured() -> None:
    graph = _graph(("c", 0.8, ["*", "a"]))
    assert _predict(graph, "a b b c", max_gap=2)[-1] == pytest.approx(0.8)
    assert _predict(graph, "a b b b c", max_gap=2)[-1] == 0.0
    assert _predict(graph, "a b b b c", max_gap=3)[-1] == pytest.approx(0.8)
    assert _predict(graph, "a b b b c")[-1] == pytest.approx(0.8)  # unbounded by default
    assert _predict(graph, "a b c", max_gap=1)[-1] == pytest.approx(0.8)
    assert _predict(graph, "a c", max_gap=1)[-1] == 0.0


def test_max_gap_still_finds_a_nearer_anchor() -> None:
    graph = _graph(("c", 0.8, ["*", "a"]))
    assert _predict(graph, "a b b b a b c", max_gap=1)[-1] == pytest.approx(0.8)


def test_memo_does_not_leak_between_sequences() -> None:
    matcher = GraphMatcher(_graph(("c", 0.8, ["*", "a"])))
    assert matcher.predict("a b c".split()).tolist()[-1] == pytest.approx(0.8)
    assert matcher.predict("x b c".split()).tolist()[-1] == 0.0


def _brute_force(patterns: Sequence[Pattern], keys: Sequence[str], max_gap: int | None = None) -> list[float]:
    """The best end activation at each position by trying every way to place every prefix of every pattern."""

    def ends(context: Sequence[str], i: int) -> bool:  # can `context` be matched backwards from position i?
        if not context:
            return True
        step, rest = context[0], context[1:]
        if step != "*":
            return i >= 0 and keys[i] == step and ends(rest, i - 1)
        longest = i + 1 if max_gap is None else min(max_gap, i + 1)
        return any(ends(rest, i - size) for size in range(1, longest + 1))

    out = []
    for t, key in enumerate(keys):
        best = 0.0
        for root, activation, context in patterns:
            if root == key and ends(context, t - 1):
                best = max(best, activation)
        out.append(best)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_gap", [None, 2])
def test_agrees_with_brute_force_on_random_patterns(seed: int, max_gap: int | None) -> None:
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "d"]
    patterns: list[Pattern] = []
    for _ in range(8):
        context: list[str] = []
        for _ in range(rng.randint(0, 4)):
            step = rng.choice([*vocab, "*"])
            if step == "*" and context and context[-1] == "*":
                continue  # consecutive gaps are collapsed when graphs are built
            context.append(step)
        while context and context[-1] == "*":
            context.pop()  # trailing gaps are never stored
        patterns.append((rng.choice(vocab), round(rng.uniform(0.5, 1.0), 3), context))
    graph = _graph(*patterns)
    for _ in range(5):
        keys = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        expected = _brute_force(patterns, keys, max_gap)
        assert GraphMatcher(graph, max_gap=max_gap).predict(keys).tolist() == pytest.approx(expected, abs=1e-6)


def test_long_sequence_with_many_gaps_runs() -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(12)]
    patterns: list[Pattern] = [(root, 0.6 + 0.01 * i, ["*", a, "*", b, "*", c])
                               for i, (root, a, b, c) in enumerate(zip(vocab, vocab[3:], vocab[6:], vocab[1:]))]
    patterns += [(root, 0.55, ["*", "never"]) for root in vocab[:4]]
    graph = _graph(*patterns)
    keys = [rng.choice(vocab) for _ in range(2000)]
    out = GraphMatcher(graph).predict(keys)
    assert out.shape == (2000,)
    assert float(out.max()) > 0.5  # with 2,000 random tokens, some `c * b * a * root` occurs


# -- token keys -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "key"), [(" Import", "import"), ("import", "import"), (" import", "import"),
                                           ("Import", "import"), ("\n", "\n"), ("  ", "  "), ("\t\n", "\t\n"),
                                           ("HTTP", "HTTP"), (" HTTP", "HTTP"), (" camelCase", "camelCase"),
                                           ("Hello\n", "hello"), (" 42", "42"), ("", "")])
def test_normalise_token(text: str, key: str) -> None:
    assert normalise_token(text) == key


def test_token_key_modes() -> None:
    assert token_key(" Import", "exact") == " Import"
    assert token_key(" Import", "normalised") == "import"
    with pytest.raises(N2GError, match="unknown token matching"):
        token_key("x", "lowercase")


def test_vocabulary_keys_texts_and_caching() -> None:
    tokenizer = FixedTextTokenizer({1: " Import", 2: "import", 3: "\n"})
    exact, normalised = Vocabulary(tokenizer, "exact"), Vocabulary(tokenizer, "normalised")
    assert exact.keys([1, 2, 3]) == [" Import", "import", "\n"]
    assert normalised.keys([1, 2, 3, 1]) == ["import", "import", "\n", "import"]
    assert normalised.texts([1, 3]) == [" Import", "\n"]
    assert normalised.text(np.int64(2)) == "import"
    before = tokenizer.decodes
    normalised.keys([1, 2, 3] * 10)
    assert tokenizer.decodes == before  # each id is decoded once per vocabulary
    with pytest.raises(N2GError):
        Vocabulary(tokenizer, "fuzzy")


def test_normalised_keys_match_across_spellings() -> None:
    tokenizer = FixedTextTokenizer({1: "from", 2: " os", 3: " Import", 4: " import", 5: "import"})
    vocab = Vocabulary(tokenizer, "normalised")
    graph = _graph(("import", 0.9, ["*", "from"]))
    matcher = GraphMatcher(graph)
    for last in (3, 4, 5):
        assert matcher.predict(vocab.keys([1, 2, last])).tolist()[-1] == pytest.approx(0.9)
    exact_keys = Vocabulary(tokenizer, "exact").keys([1, 2, 3])
    assert matcher.predict(exact_keys).tolist()[-1] == 0.0
