"""A tokenizer whose tokens have fixed texts: token keys and graph building tested without a vocabulary file."""

from __future__ import annotations

from collections.abc import Sequence


class FixedTextTokenizer:
    """decode([id]) -> a fixed text per id; counts decodes (to check caching)."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.decodes = 0

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool = False) -> str:
        self.decodes += 1
        return "".join(self.texts[i] for i in ids)
