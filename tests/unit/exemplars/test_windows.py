"""Tests of `n2g.exemplars.windows`: tokenising documents into per-document windows and batching them."""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from n2g.exemplars.corpus import Document
from n2g.exemplars.windows import Window, WindowBatch, WindowStream, batch_windows, make_batch

STDLIB = Path(sysconfig.get_paths()["stdlib"])
BIG = 10**12  # a token budget no test reaches (see test_no_token_budget for max_tokens=None)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    """The tiny model's real byte-level BPE tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` exactly as the stream tokenises it (no special tokens)."""
    return tokenizer([text], add_special_tokens=False)["input_ids"][0]


def _documents(count: int) -> list[Document]:
    """`count` real documents of varied length: slices of standard-library sources, some empty or tiny."""
    lines = [line for name in ("textwrap.py", "shlex.py", "glob.py")
             for line in (STDLIB / name).read_text().splitlines(keepends=True)]
    docs: list[Document] = []
    pos = 0
    for i in range(count):
        if i % 11 == 5:
            text = ""  # an empty document
        elif i % 11 == 8:
            text = "x = 1"  # a tiny one, shorter than any min_len used here
        else:
            n_lines = 1 + (i * 7) % 23
            text = "".join(lines[pos:pos + n_lines])
            pos = (pos + n_lines) % (len(lines) - 30)
        docs.append(Document(name=f"doc-{i}", text=text))
    return docs


def _stream(docs: Iterable[Document], tokenizer: Any, window_len: int, min_len: int,
            max_tokens: int | None = BIG,
            max_windows_per_doc: int | None = None) -> tuple[list[Window], WindowStream]:
    """Run a WindowStream over `docs` (fed as a one-pass iterator) and return its windows and the stream."""
    stream = WindowStream(iter(list(docs)), tokenizer, window_len=window_len, min_len=min_len,
                          max_tokens=max_tokens, max_windows_per_doc=max_windows_per_doc)
    return list(stream), stream


def _expected(token_lists: list[list[int]], window_len: int, min_len: int,
              max_windows_per_doc: int | None = None) -> list[tuple[int, int, list[int]]]:
    """Reference (doc index, start, tokens) of every window, without a token budget."""
    out = []
    for doc_index, ids in enumerate(token_lists):
        kept = 0
        for start in range(0, len(ids), window_len):
            chunk = ids[start:start + window_len]
            if len(chunk) < min(min_len, window_len) or kept == max_windows_per_doc:
                break
            out.append((doc_index, start, chunk))
            kept += 1
    return out


def _as_tuples(windows: list[Window]) -> list[tuple[int, int, list[int]]]:
    """(doc index, start, tokens) of each window, for comparison with `_expected`."""
    return [(w.doc_index, w.start, w.tokens) for w in windows]


def _find_text(tokenizer: Any, ok: Any) -> tuple[str, list[int]]:
    """The first prefix of textwrap.py (by lines) whose token ids satisfy `ok(ids)`."""
    lines = (STDLIB / "textwrap.py").read_text().splitlines(keepends=True)
    for n in range(3, len(lines)):
        text = "".join(lines[:n])
        ids = _ids(tokenizer, text)
        if ok(ids):
            return text, ids
    raise AssertionError("no suitable text found")


# --- one document -----------------------------------------------------------------------------------------

def test_full_windows_plus_kept_tail(tokenizer: Any) -> None:
    """n tokens give n // L full windows and a tail window of n % L tokens when that is >= min_len."""
    window_len = 16
    text, ids = _find_text(tokenizer, lambda ids: len(ids) > 50 and len(ids) % 16 >= 6)
    windows, _ = _stream([Document("d", text)], tokenizer, window_len, min_len=len(ids) % window_len)
    n_full = len(ids) // window_len
    assert len(windows) == n_full + 1
    assert [len(w.tokens) for w in windows] == [window_len] * n_full + [len(ids) % window_len]
    assert [w.start for w in windows] == [i * window_len for i in range(n_full + 1)]
    assert sum((w.tokens for w in windows), []) == ids


def test_short_tail_is_dropped(tokenizer: Any) -> None:
    """A tail shorter than min_len is dropped; the full windows stay."""
    window_len = 16
    text, ids = _find_text(tokenizer, lambda ids: len(ids) > 50 and len(ids) % 16 >= 6)
    tail = len(ids) % window_len
    windows, _ = _stream([Document("d", text)], tokenizer, window_len, min_len=tail + 1)
    assert [len(w.tokens) for w in windows] == [window_len] * (len(ids) // window_len)
    assert sum((w.tokens for w in windows), []) == ids[: len(ids) - tail]


def test_exact_multiple_has_no_empty_tail(tokenizer: Any) -> None:
    """A document of exactly k * L tokens gives k windows, with no empty extra window."""
    text, ids = _find_text(tokenizer, lambda ids: len(ids) > 40 and len(ids) % 8 == 0)
    windows, _ = _stream([Document("d", text)], tokenizer, 8, min_len=1)
    assert len(windows) == len(ids) // 8
    assert all(len(w.tokens) == 8 for w in windows)


def test_min_len_above_window_len_keeps_full_windows(tokenizer: Any) -> None:
    """min_len is capped at window_len: full windows are always kept, short tails never."""
    text, ids = _find_text(tokenizer, lambda ids: len(ids) > 50 and len(ids) % 16 >= 6)
    windows, _ = _stream([Document("d", text)], tokenizer, 16, min_len=1000)
    assert [len(w.tokens) for w in windows] == [16] * (len(ids) // 16)


def test_windows_hold_no_special_tokens(tokenizer: Any) -> None:
    """Window tokens are the document's ids only: no BOS/EOS added by the tokenizer."""
    windows, _ = _stream([Document("d", "def f(x):\n    return x\n")], tokenizer, 64, min_len=1)
    [window] = windows
    assert window.tokens == _ids(tokenizer, "def f(x):\n    return x\n")
    assert tokenizer.bos_token_id not in window.tokens and tokenizer.eos_token_id not in window.tokens


# --- many documents ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("window_len", "min_len"), [(16, 1), (16, 6), (7, 3), (64, 64)])
def test_many_documents_match_reference(tokenizer: Any, window_len: int, min_len: int) -> None:
    """Over 75 documents (several tokeniser chunks) the windows are exactly the reference windows."""
    docs = _documents(75)
    token_lists = [_ids(tokenizer, d.text) for d in docs]
    windows, stream = _stream(docs, tokenizer, window_len, min_len)
    assert _as_tuples(windows) == _expected(token_lists, window_len, min_len)
    assert [w.window_id for w in windows] == list(range(len(windows)))
    assert stream.document_names == [d.name for d in docs]


def test_no_window_spans_two_documents(tokenizer: Any) -> None:
    """With min_len=1 each document's windows tile it exactly: concatenated, they are its token ids."""
    docs = _documents(40)
    token_lists = [_ids(tokenizer, d.text) for d in docs]
    windows, _ = _stream(docs, tokenizer, 16, min_len=1)
    assert [w.doc_index for w in windows] == sorted(w.doc_index for w in windows)
    for doc_index, ids in enumerate(token_lists):
        own = [w for w in windows if w.doc_index == doc_index]
        assert sum((w.tokens for w in own), []) == ids
        offsets = [0]
        for w in own[:-1]:
            offsets.append(offsets[-1] + len(w.tokens))
        assert [w.start for w in own] == offsets[: len(own)]
        assert all(1 <= len(w.tokens) <= 16 for w in own)
        assert all(ids[w.start:w.start + len(w.tokens)] == w.tokens for w in own)


def test_skipped_documents_keep_their_index(tokenizer: Any) -> None:
    """Empty and too-short documents give no window but still take a doc index and a name."""
    docs = [Document("empty", ""), Document("tiny", "x"), Document("real", "import os\n" * 20)]
    windows, stream = _stream(docs, tokenizer, 16, min_len=4)
    assert windows and {w.doc_index for w in windows} == {2}
    assert windows[0].window_id == 0
    assert stream.document_names == ["empty", "tiny", "real"]


def test_empty_corpus_gives_no_windows(tokenizer: Any) -> None:
    """No documents, no windows and no names."""
    windows, stream = _stream([], tokenizer, 16, min_len=4)
    assert windows == [] and stream.document_names == []


# --- budgets ----------------------------------------------------------------------------------------------

def test_max_windows_per_doc(tokenizer: Any) -> None:
    """At most k windows come from each document: its first k (by start), tails included only within k."""
    docs = _documents(30)
    token_lists = [_ids(tokenizer, d.text) for d in docs]
    for k in (1, 2, 3):
        windows, stream = _stream(docs, tokenizer, 8, min_len=3, max_windows_per_doc=k)
        assert _as_tuples(windows) == _expected(token_lists, 8, 3, max_windows_per_doc=k)
        per_doc: dict[int, int] = {}
        for w in windows:
            per_doc[w.doc_index] = per_doc.get(w.doc_index, 0) + 1
        assert max(per_doc.values()) == k
        assert all(w.start < k * 8 for w in windows)
        assert [w.window_id for w in windows] == list(range(len(windows)))
        assert stream.document_names == [d.name for d in docs]


@pytest.mark.parametrize("min_len", [1, 5])
def test_max_tokens_is_exact(tokenizer: Any, min_len: int) -> None:
    """Any budget up to the corpus size is met exactly: the windows are a prefix of the unbudgeted stream,
    the last one cut short to fit (even below min_len)."""
    docs = _documents(20)
    window_len = 16
    full, _ = _stream(docs, tokenizer, window_len, min_len)
    total = sum(len(w.tokens) for w in full)
    for budget in sorted({1, 2, 4, 15, 16, 17, 100, 257, total - 1, total, *range(3, total, 37)}):
        windows, _ = _stream(docs, tokenizer, window_len, min_len, max_tokens=budget)
        assert sum(len(w.tokens) for w in windows) == budget
        assert _as_tuples(windows[:-1]) == _as_tuples(full[: len(windows) - 1])
        last, ref = windows[-1], full[len(windows) - 1]
        assert (last.doc_index, last.start, last.window_id) == (ref.doc_index, ref.start, ref.window_id)
        assert 1 <= len(last.tokens) <= len(ref.tokens)
        assert last.tokens == ref.tokens[: len(last.tokens)]


def test_budget_above_corpus_gives_everything(tokenizer: Any) -> None:
    """A budget larger than the corpus gives all windows, the same as no budget at all."""
    docs = _documents(20)
    full, _ = _stream(docs, tokenizer, 16, 5)
    total = sum(len(w.tokens) for w in full)
    windows, stream = _stream(docs, tokenizer, 16, 5, max_tokens=total + 1)
    assert windows == full
    assert stream.document_names == [d.name for d in docs]


def test_budget_met_stops_reading_documents(tokenizer: Any) -> None:
    """Once the budget is used up, no later document is named (they were not part of the run)."""
    docs = _documents(60)
    full, _ = _stream(docs, tokenizer, 16, 1)
    cut = full[10]
    budget = sum(len(w.tokens) for w in full[:11])
    windows, stream = _stream(docs, tokenizer, 16, 1, max_tokens=budget)
    assert len(windows) == 11
    assert stream.document_names == [d.name for d in docs[: cut.doc_index + 1]]


def test_small_budget_remainder_is_still_met(tokenizer: Any) -> None:
    """A remainder shorter than min_len after one document is taken from the next, and the stream then stops
    instead of reading the rest of the corpus."""
    window_len, min_len = 16, 8
    first = Document("first", "import os\n" * 40)
    n_first = len(_ids(tokenizer, first.text))
    budget = (n_first // window_len) * window_len + 3  # 3 tokens left after the first doc's full windows
    docs = [first] + _documents(100)
    consumed = 0

    def counting() -> Iterator[Document]:
        nonlocal consumed
        for doc in docs:
            consumed += 1
            yield doc

    stream = WindowStream(counting(), tokenizer, window_len, min_len, max_tokens=budget)
    windows = list(stream)
    assert sum(len(w.tokens) for w in windows) == budget
    assert len(windows[-1].tokens) == 3
    assert (windows[-1].doc_index, windows[-1].start) == (1, 0)  # first doc is exactly 20 windows long
    assert len(stream.document_names) <= 2
    assert consumed < len(docs)


def test_budget_below_min_len_gives_one_short_window(tokenizer: Any) -> None:
    """A budget smaller than min_len is still met, by one window cut to the budget."""
    docs = _documents(5)
    windows, stream = _stream(docs, tokenizer, 16, min_len=8, max_tokens=5)
    assert [(w.window_id, w.doc_index, w.start) for w in windows] == [(0, 0, 0)]
    assert windows[0].tokens == _ids(tokenizer, docs[0].text)[:5]
    assert stream.document_names == ["doc-0"]


def test_no_token_budget(tokenizer: Any) -> None:
    """max_tokens=None (the default) means no budget: the same windows as an unreachable budget."""
    docs = _documents(20)
    unbounded, _ = _stream(docs, tokenizer, 16, 4, max_tokens=None)
    bounded, _ = _stream(docs, tokenizer, 16, 4, max_tokens=BIG)
    assert unbounded == bounded and unbounded
    default = WindowStream(iter(docs), tokenizer, window_len=16, min_len=4)
    assert default.max_tokens is None and list(default) == unbounded


# --- batching ---------------------------------------------------------------------------------------------

def _synthetic_windows(lengths: list[int]) -> list[Window]:
    """Windows with the given token counts and recognisable ids (token = 10 * window + position + 5)."""
    return [Window(window_id=i, doc_index=i // 2, start=16 * (i % 2),
                   tokens=[10 * i + p + 5 for p in range(n)]) for i, n in enumerate(lengths)]


def test_make_batch_pads_right_without_bos() -> None:
    """Rows are the tokens right-padded with pad_id to window_len; lengths count real tokens."""
    windows = _synthetic_windows([16, 5, 16, 9])
    batch = make_batch(windows, 16, pad_id=3, bos_id=None)
    assert batch.tokens.shape == (4, 16) and batch.tokens.dtype == torch.long
    assert batch.has_bos is False
    for row, w in zip(batch.tokens.tolist(), windows):
        assert row[: len(w.tokens)] == w.tokens
        assert row[len(w.tokens):] == [3] * (16 - len(w.tokens))
    assert batch.lengths.tolist() == [16, 5, 16, 9]
    assert batch.n_tokens == 46 and isinstance(batch.n_tokens, int)
    assert torch.equal(batch.content, batch.tokens)
    assert batch.window_ids.tolist() == [0, 1, 2, 3]
    assert batch.doc_index.tolist() == [0, 0, 1, 1]
    assert batch.starts.tolist() == [0, 16, 0, 16]
    for tensor in (batch.lengths, batch.window_ids, batch.doc_index, batch.starts):
        assert tensor.dtype == torch.long and tensor.shape == (4,)


def test_make_batch_with_bos_column() -> None:
    """A BOS column comes first; `content` drops it and `n_tokens` does not count it."""
    windows = _synthetic_windows([16, 5, 9])
    plain = make_batch(windows, 16, pad_id=3, bos_id=None)
    batch = make_batch(windows, 16, pad_id=3, bos_id=1)
    assert batch.has_bos is True
    assert batch.tokens.shape == (3, 17)
    assert batch.tokens[:, 0].tolist() == [1, 1, 1]
    assert torch.equal(batch.content, plain.tokens)
    assert batch.content.shape == (3, 16)
    assert batch.n_tokens == plain.n_tokens == 30
    assert batch.lengths.tolist() == [16, 5, 9]


def test_batch_windows_groups_in_order() -> None:
    """Windows are grouped batch_size at a time, the last batch holding the remainder, order kept."""
    windows = _synthetic_windows([8, 3, 8, 8, 2, 8, 8, 5, 8, 1])
    batches = list(batch_windows(iter(windows), batch_size=4, window_len=8, pad_id=0, bos_id=7))
    assert [len(b.lengths) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, WindowBatch) and b.tokens.shape[1] == 9 for b in batches)
    assert sum((b.window_ids.tolist() for b in batches), []) == list(range(10))
    assert sum(b.n_tokens for b in batches) == sum(len(w.tokens) for w in windows)
    assert list(batch_windows([], batch_size=4, window_len=8, pad_id=0, bos_id=None)) == []


def test_stream_to_batches_round_trip(tokenizer: Any) -> None:
    """Batching a real window stream loses nothing: unpadding each row gives back each window's tokens."""
    docs = _documents(25)
    windows, _ = _stream(docs, tokenizer, 16, 4)
    batches = list(batch_windows(iter(windows), 5, 16, tokenizer.pad_token_id, tokenizer.bos_token_id))
    rows = [(wid, row[:n]) for b in batches
            for wid, row, n in zip(b.window_ids.tolist(), b.content.tolist(), b.lengths.tolist())]
    assert rows == [(w.window_id, w.tokens) for w in windows]
    assert all((b.tokens[:, 0] == tokenizer.bos_token_id).all() for b in batches)
