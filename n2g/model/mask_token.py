"""The token that stands in for a masked position during saliency.

The original used token id 1 for every model: padding for GPT-NeoX, but `"` for GPT-2, a real content token,
so masking a quote was a no-op there. We take a special token, never a content token, in this order:
the tokenizer's mask token, its pad token, unknown token, end-of-text token, begin-of-text token, then any
other special token. SmolLM2's is its pad token `<|im_end|>`; GPT-2's is `<|endoftext|>`; BERT-style
vocabularies have `[MASK]`. A tokenizer with no special token at all needs an explicit `mask_token_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from n2g.errors import N2GError

_PREFERENCE = ("mask", "pad", "unk", "eos", "bos")


@dataclass(frozen=True)
class MaskToken:
    id: int
    text: str
    why: str  # which rule chose it, recorded with every graph


def choose_mask_token(tokenizer: Any, override: int | None = None) -> MaskToken:
    special_ids = set(getattr(tokenizer, "all_special_ids", None) or [])
    if override is not None:
        if override not in special_ids:
            raise N2GError(f"mask token id {override} is not a special token of this tokenizer "
                           f"(special ids: {sorted(special_ids)}): masking with a content token biases saliency")
        return MaskToken(override, _text(tokenizer, override), "given")
    for role in _PREFERENCE:
        token_id = getattr(tokenizer, f"{role}_token_id", None)
        if token_id is not None and token_id in special_ids:
            return MaskToken(int(token_id), _text(tokenizer, token_id), f"{role} token")
    if special_ids:
        token_id = min(special_ids)
        return MaskToken(token_id, _text(tokenizer, token_id), "first special token")
    raise N2GError("the tokenizer has no special token to mask with: pass a mask token id")


def _text(tokenizer: Any, token_id: int) -> str:
    return tokenizer.convert_ids_to_tokens(int(token_id))
