"""Token keys: what graph matching compares. Graph building, prediction and search share this one definition.

- `exact`: the token's own text, so ` import` (leading space) and `import` (line start) are different keys.
- `normalised`: as the paper did: surrounding whitespace stripped and title case lowered for word tokens
  (` Import`, `import` and ` import` share the key `import`); tokens that are only whitespace keep their text,
  so a newline stays a newline.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, get_args

from n2g.errors import N2GError

TokenMatching = Literal["exact", "normalised"]
MATCHING_MODES: tuple[TokenMatching, ...] = get_args(TokenMatching)


def normalise_token(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return text
    return stripped.lower() if stripped.istitle() else stripped


def token_key(text: str, mode: str) -> str:
    if mode == "exact":
        return text
    if mode == "normalised":
        return normalise_token(text)
    raise N2GError(f"unknown token matching {mode!r} (choose from {', '.join(MATCHING_MODES)})")


class Vocabulary:
    """Token id -> display text and key, decoded once per tokenizer (decoding is the slow part)."""

    def __init__(self, tokenizer: Any, mode: str) -> None:
        token_key("", mode)  # validates the mode
        self.mode = mode
        self._tokenizer = tokenizer
        self._text = lru_cache(maxsize=None)(self._decode)

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _decode(self, token_id: int) -> str:
        return self._tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def text(self, token_id: int) -> str:
        return self._text(int(token_id))

    def texts(self, token_ids: Sequence[int]) -> list[str]:
        return [self._text(int(t)) for t in token_ids]

    def keys(self, token_ids: Sequence[int]) -> list[str]:
        return [token_key(self._text(int(t)), self.mode) for t in token_ids]
