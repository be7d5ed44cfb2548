"""Token identity: byte-level BPE tokens that are parts of one UTF-8 character decode to U+FFFD alike; their texts
(and so their keys, graph nodes and stored tokens) are made from their bytes instead, so distinct ids stay distinct."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2g.graphs.neuron_graph import NeuronGraph
from n2g.graphs.prediction import GraphMatcher
from n2g.model.token_keys import REPLACEMENT, Vocabulary, bytes_to_unicode, piece_bytes, token_text
from tests.fixed_tokenizer import FixedTextTokenizer

_ALPHABET = bytes_to_unicode()


def _piece(raw: bytes) -> str:
    """The GPT-2 byte-level token string of `raw`."""
    return "".join(_ALPHABET[b] for b in raw)


def _byte_level_tokenizer():
    """A byte-level BPE (GPT-2 / SmolLM2 style) whose vocabulary holds é and U+FFFD whole, the em dash's first two
    bytes E2 80 as one token, a space + E2, and every single byte."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {_ALPHABET[b]: b for b in range(256)}
    merges = [(_piece(b"\xc3"), _piece(b"\xa9")), (_piece(b"\xe2"), _piece(b"\x80")), (_piece(b" "), _piece(b"\xe2")),
              (_piece(b"\xef"), _piece(b"\xbf")), (_piece(b"\xef\xbf"), _piece(b"\xbd"))]  # the last: U+FFFD whole
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def _byte_fallback_tokenizer():
    """A SentencePiece-style BPE with byte fallback (Llama 2 style): unknown characters become `<0xHH>` tokens."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, **{f"<0x{b:02X}>": 1 + b for b in range(256)}, "\u2581a": 257, "é": 258, "\u2581": 259}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")


def test_parts_of_characters_have_distinct_texts_and_keys() -> None:
    tokenizer = _byte_level_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(_piece(raw))
           for name, raw in {"e2 80": b"\xe2\x80", "space e2": b" \xe2", "e2": b"\xe2", "94": b"\x94",
                             "80": b"\x80"}.items()}
    decoded = {name: tokenizer.decode([i]) for name, i in ids.items()}
    assert set(decoded.values()) <= {REPLACEMENT, " " + REPLACEMENT}  # the tokenizer's own decode merges them
    for mode in ("exact", "normalised"):
        vocab = Vocabulary(tokenizer, mode)
        texts = {name: vocab.text(i) for name, i in ids.items()}
        assert texts == {"e2 80": "\\xe2\\x80", "space e2": " \\xe2", "e2": "\\xe2", "94": "\\x94", "80": "\\x80"}
        keys = vocab.keys(list(ids.values()))
        assert len(set(keys)) == len(ids) - (mode == "normalised")  # normalised: ` \xe2` and `\xe2` share a key
        assert REPLACEMENT not in "".join(keys)


def test_real_characters_decode_as_themselves() -> None:
    tokenizer = _byte_level_tokenizer()
    vocab = Vocabulary(tokenizer, "exact")
    ids = tokenizer("é a—", add_special_tokens=False)["input_ids"]
    assert vocab.texts(ids) == ["é", " ", "a", "\\xe2\\x80", "\\x94"]  # the em dash: E2 80 + 94
    assert vocab.text(tokenizer.convert_tokens_to_ids(_piece("\ufffd".encode()))) == "\ufffd"  # U+FFFD's own bytes


def test_sentencepiece_byte_fallback() -> None:
    tokenizer = _byte_fallback_tokenizer()
    vocab = Vocabulary(tokenizer, "exact")
    ids = tokenizer("a—", add_special_tokens=False)["input_ids"]  # no em dash in the vocabulary: three bytes
    assert [tokenizer.decode([i]) for i in ids][-3:] == [REPLACEMENT] * 3
    assert vocab.texts(ids)[-3:] == ["\\xe2", "\\x80", "\\x94"]
    assert vocab.text(258) == "é"
    assert piece_bytes("<0xE2>") == b"\xe2" and piece_bytes("\u2581é") == " é".encode()


def test_texts_without_replacement_characters_are_left_alone() -> None:
    tokenizer = FixedTextTokenizer({1: " import", 2: "\ufffd", 3: "é"})  # no token strings: decoded text kept
    assert Vocabulary(tokenizer, "exact").texts([1, 2, 3]) == [" import", "\ufffd", "é"]
    assert token_text(" import", None) == " import" and token_text("\ufffd", "?") == "\ufffd"


def test_tiny_model_tokenizer_keeps_every_id_distinct(tiny_model_dir: Path) -> None:
    """The tests' own byte-level tokenizer: its single high bytes all decode to U+FFFD, and all get their own text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    vocab = Vocabulary(tokenizer, "exact")
    split = [i for i in range(len(tokenizer)) if REPLACEMENT in tokenizer.decode([i])]
    assert len(split) >= 64
    texts = vocab.texts(split)
    assert len(set(texts)) == len(split) and all("\\x" in text for text in texts)
    assert len(set(vocab.texts(range(len(tokenizer))))) == len(tokenizer)


def test_graph_on_a_part_of_a_character_matches_only_its_own_id() -> None:
    tokenizer = _byte_level_tokenizer()
    vocab = Vocabulary(tokenizer, "exact")
    e2, x80, x94 = (tokenizer.convert_tokens_to_ids(_piece(raw)) for raw in (b"\xe2", b"\x80", b"\x94"))
    graph = NeuronGraph(model="m", layer=0, neuron=0, a_max=1.0, token_matching="exact")
    graph.insert(vocab.keys([x80])[0], vocab.text(x80), 0.9, 1.0, [])
    predicted = GraphMatcher(graph).predict(vocab.keys([e2, x80, x94, x80]))
    assert predicted.tolist() == pytest.approx([0.0, 0.9, 0.0, 0.9])
    assert graph.activating_tokens() == ["\\x80"]
