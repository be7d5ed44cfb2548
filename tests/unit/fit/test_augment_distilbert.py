"""DistilBERT-style whole-word augmentation: splicing arithmetic, word spans, and the real fill-mask path on a tiny
masked LM trained here (WordPiece on standard-library source, seeded random DistilBERT weights)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from n2g.errors import N2GError
from n2g.fit.augment_distilbert import DistilBertAugmenter, splice, word_span
from n2g.fit.prompt import Candidate, Prompt

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MLM_CORPUS = ("textwrap.py", "bisect.py", "fnmatch.py", "shlex.py")
SOURCE_LINE = "def wrap(text, width=70, **kwargs):"


# --- splice -------------------------------------------------------------------------------------------------------

ORIGINAL = (10, 11, 12, 13, 14, 15)


@pytest.mark.parametrize(("start", "end", "new", "pivot", "expected"), [
    (1, 2, [99], 4, Candidate((10, 99, 12, 13, 14, 15), 4)),  # same length, before the pivot
    (1, 2, [98, 99], 4, Candidate((10, 98, 99, 12, 13, 14, 15), 5)),  # longer, before: pivot shifts right
    (1, 3, [99], 4, Candidate((10, 99, 13, 14, 15), 3)),  # shorter, before: pivot shifts left
    (4, 6, [98, 99, 97], 3, Candidate((10, 11, 12, 13, 98, 99, 97), 3)),  # after the pivot: unchanged
    (4, 5, [], 3, None),  # nothing to put in
    (3, 5, [98, 99, 97], 4, Candidate((10, 11, 12, 98, 99, 97, 15), 5)),  # at the pivot: last stays last
    (3, 5, [98, 99, 97], 3, Candidate((10, 11, 12, 98, 99, 97, 15), 4)),  # at the pivot: offset from the end
    (2, 5, [99], 2, Candidate((10, 11, 99, 15), 2)),  # at the pivot, shorter: clamped to the span's start
    (2, 5, [99], 4, Candidate((10, 11, 99, 15), 2)),
    (0, 6, [7], 5, Candidate((7,), 0)),  # the whole prompt
])
def test_splice(start, end, new, pivot, expected):
    assert splice(ORIGINAL, start, end, new, pivot) == expected


def test_splice_accepts_lists_and_returns_tuples():
    candidate = splice([1, 2, 3], 1, 2, (5,), 2)
    assert candidate == Candidate((1, 5, 3), 2)
    assert isinstance(candidate.tokens, tuple)


# --- word_span ----------------------------------------------------------------------------------------------------

CODE = ["def", " foo", "_bar", "(", "x", ")", ":"]


@pytest.mark.parametrize(("texts", "position", "expected"), [
    (CODE, 0, (0, 1)),
    (CODE, 1, (1, 3)),  # identifier pieces join: " foo_bar"
    (CODE, 2, (1, 3)),
    (CODE, 3, (3, 4)),  # punctuation is its own word
    (CODE, 4, (4, 5)),  # a word right after punctuation
    (CODE, 5, (5, 6)),
    (CODE, 6, (6, 7)),
    ([" un", "believ", "able", " story"], 1, (0, 3)),
    ([" un", "believ", "able", " story"], 3, (3, 4)),
    (["hello", " ", "world"], 1, (1, 2)),  # whitespace alone is a word
    (["hello", " ", "world"], 2, (2, 3)),
    (["end", "\n", "next"], 2, (2, 3)),  # after a token ending in whitespace
    (["x", "=", "=", "1"], 1, (1, 2)),  # punctuation tokens do not join each other
    (["a", "'", "s"], 0, (0, 1)),
    (["word"], 0, (0, 1)),
])
def test_word_span(texts, position, expected):
    assert word_span(texts, position) == expected


def test_word_span_rejects_positions_outside():
    with pytest.raises(IndexError):
        word_span(["a"], 1)


# --- the real fill-mask path --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer DistilBERT with seeded random weights and a WordPiece vocabulary trained on stdlib source."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import DistilBertConfig, DistilBertForMaskedLM, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials, show_progress=False)
    tok.train_from_iterator([(STDLIB / m).read_text() for m in MLM_CORPUS], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, hidden_dim=64, n_layers=1, n_heads=2,
                              max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = DistilBertForMaskedLM(config)
    directory = tmp_path_factory.mktemp("tiny-distilbert")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def target_tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def augmenter(target_tokenizer, tiny_mlm_dir: Path) -> DistilBertAugmenter:
    return DistilBertAugmenter(target_tokenizer, model=str(tiny_mlm_dir), top_n=5, min_probability=0.0)


def _decode(tokenizer, ids) -> str:
    return tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)


def _prompt(tokenizer, text: str, pivot_word: str) -> tuple[Prompt, list[str]]:
    """A prompt over real text whose pivot is the last token of `pivot_word`."""
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    texts = [_decode(tokenizer, [t]) for t in tokens]
    ends = [i for i in range(len(tokens)) if _decode(tokenizer, tokens[: i + 1]).endswith(pivot_word)]
    pivot = ends[0]
    acts = np.zeros(len(tokens), dtype=np.float32)
    return Prompt(neuron=0, tokens=tokens, acts=acts, pivot=pivot, pivot_value=1.0), texts


def _spans(texts: list[str]) -> list[tuple[int, int]]:
    return sorted({word_span(texts, i) for i in range(len(texts)) if texts[i].strip()})


def _check_candidate(prompt: Prompt, span: tuple[int, int], candidate: Candidate, tokenizer) -> None:
    """The candidate keeps everything outside `span`, and its pivot still marks the explained token."""
    original, (start, end) = prompt.tokens, span
    new_len = len(candidate.tokens) - (len(original) - (end - start))
    assert new_len >= 1
    assert list(candidate.tokens[:start]) == original[:start]
    assert list(candidate.tokens[start + new_len:]) == original[end:]
    if prompt.pivot < start:  # a word after the pivot was replaced: the pivot does not move
        assert candidate.pivot == prompt.pivot
        assert candidate.tokens[candidate.pivot] == original[prompt.pivot]
    elif prompt.pivot >= end:  # a word before it: the pivot shifts, and it and all after it are unchanged
        assert candidate.pivot == prompt.pivot + new_len - (end - start)
        assert list(candidate.tokens[candidate.pivot:]) == original[prompt.pivot:]
    else:  # the pivot's own word was replaced: the pivot stays inside it, as far from its end as before
        assert start <= candidate.pivot < start + new_len
        assert (start + new_len) - candidate.pivot == min(end - prompt.pivot, new_len)
    # the substitute keeps the word's leading whitespace and is a single whole word
    substitute = _decode(tokenizer, candidate.tokens[start:start + new_len])
    original_word = _decode(tokenizer, original[start:end])
    lead = original_word[: len(original_word) - len(original_word.lstrip())]
    assert substitute.startswith(lead) and substitute.strip()
    assert substitute.strip().lower() != original_word.strip().lower()


def test_propose_substitutes_each_word_consistently(augmenter, target_tokenizer):
    prompt, texts = _prompt(target_tokenizer, SOURCE_LINE, "width")
    assert _decode(target_tokenizer, prompt.tokens[: prompt.pivot + 1]).endswith("width")
    total = 0
    for span in _spans(texts):
        (candidates,) = augmenter.propose([prompt], [[span[0]]])
        assert len({c.tokens for c in candidates}) == len(candidates)  # no duplicates
        assert all(c.tokens != tuple(prompt.tokens) for c in candidates)  # never the original
        assert len(candidates) <= augmenter.top_n
        for candidate in candidates:
            _check_candidate(prompt, span, candidate, target_tokenizer)
        total += len(candidates)
    assert total > 0


def test_propose_batches_prompts_and_positions(augmenter, target_tokenizer):
    """One call over several prompts and positions gives, per prompt, the union of the one-position calls."""
    first, first_texts = _prompt(target_tokenizer, SOURCE_LINE, "width")
    second, second_texts = _prompt(target_tokenizer, "lo = bisect_left(a, x, lo, hi)", "x")
    jobs = [(first, [s[0] for s in _spans(first_texts)]), (second, [s[1] - 1 for s in _spans(second_texts)])]
    batched = augmenter.propose([p for p, _ in jobs], [pos for _, pos in jobs])
    assert len(batched) == 2
    for (prompt, positions), candidates in zip(jobs, batched):
        singles = {c for p in positions for c in augmenter.propose([prompt], [[p]])[0]}
        assert set(candidates) == singles
        assert len({c.tokens for c in candidates}) == len(candidates)
    # two positions inside one word are one substitution, not two
    start, end = max(_spans(first_texts), key=lambda s: s[1] - s[0])
    assert augmenter.propose([first], [[start, end - 1]]) == augmenter.propose([first], [[start]])

def test_propose_handles_empty_and_out_of_range_positions(augmenter, target_tokenizer):
    prompt, _ = _prompt(target_tokenizer, SOURCE_LINE, "width")
    assert augmenter.propose([prompt], [[]]) == [[]]
    assert augmenter.propose([prompt], [[len(prompt.tokens), -1]]) == [[]]
    assert augmenter.propose([], []) == []


def test_min_probability_filters_everything(target_tokenizer, tiny_mlm_dir):
    strict = DistilBertAugmenter(target_tokenizer, model=str(tiny_mlm_dir), top_n=5, min_probability=1.01)
    prompt, texts = _prompt(target_tokenizer, SOURCE_LINE, "width")
    assert strict.propose([prompt], [list(range(len(texts)))]) == [[]]
    assert strict.name == "distilbert"


@pytest.mark.parametrize("make_path", [lambda tmp: tmp / "missing", lambda tmp: tmp])
def test_unloadable_model_is_one_line_error(target_tokenizer, tmp_path, make_path):
    with pytest.raises(N2GError) as info:
        DistilBertAugmenter(target_tokenizer, model=str(make_path(tmp_path)))
    message = str(info.value)
    assert "\n" not in message
    assert "--augment-model PATH" in message and "--augment lm" in message
