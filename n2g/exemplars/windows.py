"""Tokenise documents into fixed-length windows that never cross a document boundary, then batch them.

A document of n tokens gives floor(n / window_len) full windows plus its tail, kept when it has at least
`min_len` tokens; `max_windows_per_doc` caps how many windows one document gives. Tails are right-padded in
a batch: in a causal model no real token attends to a pad, so no attention mask is needed, and the padded
positions are excluded from every statistic by `lengths`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch

from n2g.exemplars.corpus import Document

_TOKENIZE_CHUNK = 32  # documents tokenised per call (the fast tokenizer parallelises inside a call)


@dataclass(frozen=True)
class Window:
    window_id: int  # position in the window stream, 0-based: a stable id for this corpus + settings
    doc_index: int  # position of its document in the document stream
    start: int  # token offset of the window inside its document
    tokens: list[int]  # 1..window_len token ids, no BOS


@dataclass
class WindowBatch:
    """A right-padded batch. `tokens` holds a BOS column first when the model prepends BOS."""

    tokens: torch.Tensor  # [batch, bos + window_len] int64 model input
    lengths: torch.Tensor  # [batch] int64 real tokens per window (BOS not counted)
    window_ids: torch.Tensor  # [batch] int64
    doc_index: torch.Tensor  # [batch] int64
    starts: torch.Tensor  # [batch] int64
    has_bos: bool

    @property
    def content(self) -> torch.Tensor:
        """[batch, window_len] token ids without the BOS column."""
        return self.tokens[:, 1:] if self.has_bos else self.tokens

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass
class WindowStream:
    """Iterates the windows of a document stream. Each document's name goes to `on_document` when given
    (streamed, so memory stays flat), else to `document_names`; `documents_read` counts them."""

    documents: Iterable[Document]
    tokenizer: Any
    window_len: int = 64
    min_len: int = 8
    max_tokens: int | None = None
    max_windows_per_doc: int | None = None
    on_document: Callable[[str], object] | None = None
    document_names: list[str] = field(default_factory=list)
    documents_read: int = 0

    def __iter__(self) -> Iterator[Window]:
        """Windows in order; the `min_len` rule drops short document tails, and the window that reaches
        `max_tokens` is cut to it, so a budget is met exactly when the corpus is large enough."""
        self.document_names.clear()  # a second pass re-reads the same documents
        self.documents_read = 0
        emitted = 0
        window_id = 0
        for doc_index, token_ids in self._tokenised():
            starts = range(0, len(token_ids), self.window_len)
            for start in starts[: self.max_windows_per_doc]:
                chunk = token_ids[start:start + self.window_len]
                if len(chunk) < min(self.min_len, self.window_len):
                    break
                if self.max_tokens is not None:
                    chunk = chunk[: self.max_tokens - emitted]
                yield Window(window_id, doc_index, start, chunk)
                window_id += 1
                emitted += len(chunk)
                if self.max_tokens is not None and emitted >= self.max_tokens:
                    return

    def _tokenised(self) -> Iterator[tuple[int, list[int]]]:
        documents = iter(self.documents)
        while chunk := list(islice(documents, _TOKENIZE_CHUNK)):
            encoded = self.tokenizer([d.text for d in chunk], add_special_tokens=False, verbose=False)
            for doc, ids in zip(chunk, encoded["input_ids"]):
                if self.on_document is not None:
                    self.on_document(doc.name)
                else:
                    self.document_names.append(doc.name)
                self.documents_read += 1
                yield self.documents_read - 1, ids


def batch_windows(windows: Iterable[Window], batch_size: int, window_len: int, pad_id: int,
                  bos_id: int | None) -> Iterator[WindowBatch]:
    """Group windows into right-padded `WindowBatch`es; a BOS column is added when `bos_id` is given."""
    iterator = iter(windows)
    while group := list(islice(iterator, batch_size)):
        yield make_batch(group, window_len, pad_id, bos_id)


def make_batch(group: list[Window], window_len: int, pad_id: int, bos_id: int | None) -> WindowBatch:
    rows = [w.tokens + [pad_id] * (window_len - len(w.tokens)) for w in group]
    tokens = torch.tensor(rows, dtype=torch.long)
    if bos_id is not None:
        tokens = torch.cat([torch.full((len(group), 1), bos_id, dtype=torch.long), tokens], dim=1)

    def column(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long)

    return WindowBatch(tokens=tokens, lengths=column([len(w.tokens) for w in group]),
                       window_ids=column([w.window_id for w in group]),
                       doc_index=column([w.doc_index for w in group]),
                       starts=column([w.start for w in group]), has_bos=bos_id is not None)
