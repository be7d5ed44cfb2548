"""Tests of `n2g.specs`: parsing inclusive index specs and formatting them back compactly."""

from __future__ import annotations

import random

import pytest

from n2g.errors import N2GError
from n2g.specs import format_index_spec, parse_index_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3", [3]),
        ("0", [0]),
        ("11", [11]),
        ("0:2", [0, 1, 2]),  # inclusive at both ends
        ("4:4", [4]),
        ("0,5,10", [0, 5, 10]),
        ("0:2,5", [0, 1, 2, 5]),
        ("7,0:1,9:11", [0, 1, 7, 9, 10, 11]),
        (" 1 , 3 : 4 ", [1, 3, 4]),  # whitespace around parts and bounds
    ],
)
def test_parse_valid_specs(spec: str, expected: list[int]) -> None:
    """Single indices, inclusive ranges, comma lists and mixtures parse to the named indices."""
    assert parse_index_spec(spec, 12, "layer") == expected


@pytest.mark.parametrize("spec", ["all", "ALL", " All ", "*"])
def test_parse_all(spec: str) -> None:
    """`all` (any case, padded) and `*` name every index."""
    assert parse_index_spec(spec, 7, "layer") == list(range(7))


def test_parse_sorts_and_deduplicates() -> None:
    """Overlapping and repeated parts give each index once, in ascending order."""
    assert parse_index_spec("5,3,3,1:4,4:5,0", 10, "neuron") == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("spec", ["12", "0:12", "3,40", "11:12"])
def test_out_of_range_names_the_size(spec: str) -> None:
    """An index >= size is refused with a message naming the size and the valid range."""
    with pytest.raises(N2GError) as info:
        parse_index_spec(spec, 12, "layer")
    message = str(info.value)
    assert "out of range" in message
    assert "12 layers" in message
    assert "0-11" in message


def test_out_of_range_uses_the_kind_name() -> None:
    """The `what` argument names the kind of index in the message."""
    with pytest.raises(N2GError, match=r"64 neurons \(0-63\)"):
        parse_index_spec("64", 64, "neuron")


def test_backwards_range() -> None:
    """A range whose start exceeds its end is refused, naming the range."""
    with pytest.raises(N2GError, match="5:2 runs backwards"):
        parse_index_spec("5:2", 10, "layer")


@pytest.mark.parametrize(
    "spec", ["a:b", "1:2:3", "-1", "", "   ", "1,", ",", ":3", "1:", "1.5", "one", "0:-1", "0x1"]
)
def test_garbage_is_refused(spec: str) -> None:
    """Anything that is not N, A:B, a comma list of them, or all raises N2GError (never another type)."""
    with pytest.raises(N2GError):
        parse_index_spec(spec, 10, "layer")


def test_garbage_message_quotes_the_spec() -> None:
    """The message for a malformed spec quotes the spec and shows the accepted forms."""
    with pytest.raises(N2GError) as info:
        parse_index_spec("1:2:3", 10, "layer")
    assert "'1:2:3'" in str(info.value)
    assert "all" in str(info.value)


def test_unicode_superscript_digit_is_refused_as_n2g_error() -> None:
    """A non-ASCII 'digit' such as a superscript two is garbage, reported as N2GError."""
    with pytest.raises(N2GError):
        parse_index_spec("\u00b2", 10, "layer")


@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        ([0, 1, 2, 5], "0:2,5"),
        ([5], "5"),
        ([3, 4], "3:4"),
        ([9, 10, 11, 20, 22, 23], "9:11,20,22:23"),
        ([2, 0, 1, 1, 2], "0:2"),  # unsorted with duplicates
        ([], ""),
    ],
)
def test_format_examples(indices: list[int], expected: str) -> None:
    """Runs of consecutive indices collapse into inclusive ranges."""
    assert format_index_spec(indices) == expected


def _runs(indices: list[int]) -> int:
    """Number of maximal runs of consecutive integers in a sorted, duplicate-free list."""
    return sum(1 for i, x in enumerate(indices) if i == 0 or indices[i - 1] != x - 1)


def test_format_round_trips_random_sets() -> None:
    """parse(format(s)) == sorted(set(s)), and the format has one part per run of consecutive indices."""
    rng = random.Random(1234)
    for _ in range(500):
        size = rng.randint(1, 300)
        count = rng.randint(1, size)
        chosen = rng.sample(range(size), count)
        noisy = chosen + rng.choices(chosen, k=rng.randint(0, 5))  # duplicates too
        rng.shuffle(noisy)
        text = format_index_spec(noisy)
        expected = sorted(set(chosen))
        assert parse_index_spec(text, size, "neuron") == expected, text
        assert len(text.split(",")) == _runs(expected)


def test_parse_then_format_is_canonical() -> None:
    """Formatting a parsed spec gives the canonical compact form."""
    assert format_index_spec(parse_index_spec("4,0,1,2,3,8:9,7", 10, "layer")) == "0:4,7:9"
    assert format_index_spec(parse_index_spec("all", 6, "layer")) == "0:5"


def test_portable_spec_makes_local_paths_absolute(tmp_path, monkeypatch) -> None:
    from n2g.specs import portable_spec

    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    assert portable_spec("./model") == portable_spec("model") == str((tmp_path / "model").resolve())
    assert portable_spec("gpt2") == "gpt2" and portable_spec("python-stdlib") == "python-stdlib"


def test_neuron_ids_are_layer_colon_neuron_only() -> None:
    from n2g.specs import NeuronRef, format_neuron, parse_neuron_id

    assert parse_neuron_id(" 1:144 ") == NeuronRef(1, 144) and str(NeuronRef(1, 144)) == "1:144"
    assert format_neuron(0, 1501) == "0:1501"
    for bad, hint in [("1.144", "(1:144?)"), ("1:", ""), ("-1:5", ""), ("a:b", ""), ("1:2:3", "")]:
        with pytest.raises(N2GError, match="write LAYER:NEURON") as info:
            parse_neuron_id(bad)
        assert hint in str(info.value)
    assert parse_neuron_id("1:144-") == NeuronRef(1, 144, -1) and str(NeuronRef(1, 144, -1)) == "1:144-"
    assert format_neuron(0, 3, -1) == "0:3-" and format_neuron(0, 3, 1) == "0:3"
    for bad in ("1:144--", "-1:144", "1-:144", "1:-"):
        with pytest.raises(N2GError, match="write LAYER:NEURON"):
            parse_neuron_id(bad)


def test_selection_ranges_with_layers_pairs_without() -> None:
    """With --layers, --neurons is a range spec applied to each layer; without, it names L:N pairs."""
    from n2g.specs import describe_selection, parse_neuron_selection, union_of_neurons

    assert parse_neuron_selection("0:1", "0:2", 4, 8) == {0: [0, 1, 2], 1: [0, 1, 2]}
    pairs = parse_neuron_selection(None, "0:7,1:3,0:2", 4, 8)
    assert pairs == {0: [2, 7], 1: [3]} and union_of_neurons(pairs) == [2, 3, 7]
    assert parse_neuron_selection(None, "all", 2, 3) == {0: [0, 1, 2], 1: [0, 1, 2]}
    assert parse_neuron_selection(None, "all", 4, 2, default_layers=[3]) == {3: [0, 1]}
    assert describe_selection(pairs) == "3 neurons (0:2, 0:7, 1:3)"
    with pytest.raises(N2GError, match="without --layers, name neurons as LAYER:NEURON"):
        parse_neuron_selection(None, "5", 4, 8)
    with pytest.raises(N2GError, match="layer 9 of 9:1 out of range"):
        parse_neuron_selection(None, "9:1", 4, 8)
    with pytest.raises(N2GError, match="neuron 8 of 0:8 out of range"):
        parse_neuron_selection(None, "0:8", 4, 8)
    with pytest.raises(N2GError, match="not directions"):
        parse_neuron_selection(None, "0:7-", 4, 8)


def test_filter_specs_have_no_model_size_but_a_bound() -> None:
    """`--layer` of a search filters what a store holds: any index, but nothing past the engines' integers."""
    assert parse_index_spec("3:5", None, "layer") == [3, 4, 5]
    with pytest.raises(N2GError, match="at most"):
        parse_index_spec("0:99999999999", None, "layer")
