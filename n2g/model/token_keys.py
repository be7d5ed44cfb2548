"""Token keys: what graph matching compares. Graph building, prediction and search share this one definition.

- `exact`: the token's own text, so ` import` (leading space) and `import` (line start) are different keys.
- `normalised`: as the paper did: surrounding whitespace stripped and title case lowered for word tokens
  (` Import`, `import` and ` import` share the key `import`); tokens that are only whitespace keep their text,
  so a newline stays a newline.

A token's text is `tokenizer.decode` of its id, except where that text holds the replacement character U+FFFD
that the token's bytes do not: byte-level BPE cuts multi-byte UTF-8 characters into tokens of one or two bytes, and
every such part decodes to U+FFFD, so distinct tokens would share one text (and one key, one graph node, one stored
token). Those tokens are written from their bytes instead, undecodable bytes as escapes (`token_text`): the token of
bytes E2 80 is the text `\\xe2\\x80`, a space and E2 is ` \\xe2`, a user types it that way to search for it.
Bytes come from the tokenizer's own token string: the GPT-2 byte-level alphabet (`bytes_to_unicode`, inverted) or
SentencePiece byte fallback (`<0xE2>`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, get_args

from n2g.errors import N2GError

TokenMatching = Literal["exact", "normalised"]
MATCHING_MODES: tuple[TokenMatching, ...] = get_args(TokenMatching)
# How token texts are made (recorded with fitted graphs, `n2g.fit.run.fit_settings`): "bytes-escaped" is `token_text`
TOKEN_TEXT = "bytes-escaped"
REPLACEMENT = "\ufffd"
_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte -> the printable character that stands for it in token strings."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1),
                 *range(ord("\xae"), ord("\xff") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


_BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}


def piece_bytes(piece: str) -> bytes:
    """The bytes a tokenizer's token string stands for: a SentencePiece byte fallback (`<0xE2>`), a GPT-2
    byte-level string (every character in its alphabet), or else text (SentencePiece `▁` as a space)."""
    fallback = _BYTE_FALLBACK.fullmatch(piece)
    if fallback:
        return bytes([int(fallback.group(1), 16)])
    if piece and all(char in _BYTE_OF_CHAR for char in piece):
        return bytes(_BYTE_OF_CHAR[char] for char in piece)
    return piece.replace("\u2581", " ").encode("utf-8")


def token_text(decoded: str, piece: str | None) -> str:
    """A token's text: `decoded` (the tokenizer's decode of its id), unless that holds U+FFFD the token's bytes
    (from its token string `piece`) do not hold; then the bytes, with the ones that are no whole UTF-8 character
    written as `\\xHH` escapes (a character split across tokens: E2 80 is `\\xe2\\x80`)."""
    if REPLACEMENT not in decoded or not piece:
        return decoded
    raw = piece_bytes(piece)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="backslashreplace")
    return decoded  # the bytes are whole characters (U+FFFD itself, or a string this reading does not know)


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
        decoded = self._tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if REPLACEMENT not in decoded:
            return decoded
        to_piece = getattr(self._tokenizer, "convert_ids_to_tokens", None)
        piece = to_piece(token_id) if to_piece is not None else None
        return token_text(decoded, piece if isinstance(piece, str) else None)

    def text(self, token_id: int) -> str:
        return self._text(int(token_id))

    def texts(self, token_ids: Sequence[int]) -> list[str]:
        return [self._text(int(t)) for t in token_ids]

    def keys(self, token_ids: Sequence[int]) -> list[str]:
        return [token_key(self._text(int(t)), self.mode) for t in token_ids]
