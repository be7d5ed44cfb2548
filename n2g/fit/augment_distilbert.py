"""Prompt augmentation as in the N2G paper: mask each important whole word and let DistilBERT fill it in.

A substitute that keeps the neuron firing says the word was not what mattered; one that stops it says it was.
DistilBERT predicts words, but the neuron's model reads its own tokens, so each substitute is re-tokenized with
the TARGET tokenizer and spliced into the prompt's token ids; the pivot index is moved so it still points at the
explained token (or, when its own word was replaced, at the same offset from the word's end).

The masked LM is only ever loaded from local files: a directory, or a hub name already in the Hugging Face cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from n2g.errors import N2GError
from n2g.fit.prompt import Candidate, Prompt

DEFAULT_MODEL = "distilbert-base-uncased"
_CHUNK = 32  # masked texts per forward pass: the LM returns logits for every position, [chunk, len, vocab]
_MAX_LEN = 512  # cap when neither the tokenizer nor the config gives a usable maximum length


def splice(tokens: Sequence[int], start: int, end: int, new: Sequence[int], pivot: int) -> Candidate | None:
    """Replace tokens[start:end] with `new`, moving the pivot so it stays on the same token.

    A pivot inside the replaced span keeps its offset from the span's END (the last token of a word is the one
    that usually fires), clamped to the new span's start. An empty substitute cannot be placed: None.
    """
    if not new:
        return None
    delta = len(new) - (end - start)
    if pivot < start:
        new_pivot = pivot
    elif pivot >= end:
        new_pivot = pivot + delta
    else:
        new_pivot = max(start, start + len(new) - (end - pivot))
    return Candidate(tuple(tokens[:start]) + tuple(new) + tuple(tokens[end:]), new_pivot)


def _is_wordy(text: str) -> bool:
    """A token takes part in a word if it has a letter, digit or underscore (identifiers count as words)."""
    return any(ch.isalnum() or ch == "_" for ch in text)


def _starts_word(texts: Sequence[str], i: int) -> bool:
    """Whether a word boundary lies just before token i."""
    if i == 0:
        return True
    previous, current = texts[i - 1], texts[i]
    if current[:1].isspace() or previous[-1:].isspace():
        return True
    return not (_is_wordy(previous) and _is_wordy(current))  # punctuation and whitespace stand alone


def word_span(texts: Sequence[str], position: int) -> tuple[int, int]:
    """The [start, end) token range of the whole word containing `position`, from per-token decoded texts.

    A word starts at the first token, at a token beginning with whitespace, after a token ending with whitespace,
    and before and after any token with no letter, digit or underscore (pure punctuation or whitespace is a word
    on its own). So [" foo", "_bar", "("] gives " foo_bar" and "(".
    """
    if not 0 <= position < len(texts):
        raise IndexError(f"position {position} outside {len(texts)} tokens")
    start = position
    while not _starts_word(texts, start):
        start -= 1
    end = position + 1
    while end < len(texts) and not _starts_word(texts, end):
        end += 1
    return start, end


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class DistilBertAugmenter:
    """Proposes augmented prompts by whole-word fill-mask with a local DistilBERT (or any masked LM)."""

    name = "distilbert"

    def __init__(self, target_tokenizer: Any, model: str | None = None, top_n: int = 5,
                 min_probability: float = 1e-5, device: str = "cpu") -> None:
        self.target_tokenizer = target_tokenizer
        self.top_n = top_n
        self.min_probability = min_probability
        self.device = _device(device)
        self.mlm_tokenizer, self.mlm = _load(model)
        self.mlm.to(self.device).eval()
        if self.mlm_tokenizer.mask_token_id is None:
            raise N2GError(f"augmentation model {model or DEFAULT_MODEL!r} has no mask token: it is not a masked LM")
        self._special_ids = set(self.mlm_tokenizer.all_special_ids or [])
        self._max_len = _max_length(self.mlm_tokenizer, self.mlm)

    def propose(self, prompts: Sequence[Prompt], positions: Sequence[Sequence[int]]) -> list[list[Candidate]]:
        """For each prompt, the candidates from substituting the word at each of its important positions."""
        jobs = []  # (prompt index, start, end, leading ws, trailing ws, original word, input ids, mask index)
        for index, (prompt, important) in enumerate(zip(prompts, positions, strict=True)):
            jobs.extend((index, *job) for job in self._masked_jobs(prompt.tokens, important))
        substitutes = self._fill(jobs)
        results: list[list[Candidate]] = [[] for _ in prompts]
        seen: list[set[tuple[int, ...]]] = [{tuple(p.tokens)} for p in prompts]  # the original is no candidate
        for (index, start, end, lead, trail, _word, _ids, _mask), words in zip(jobs, substitutes):
            prompt = prompts[index]
            for word in words:
                new = self.target_tokenizer(lead + word + trail, add_special_tokens=False)["input_ids"]
                candidate = splice(prompt.tokens, start, end, new, prompt.pivot)
                if candidate is not None and candidate.tokens not in seen[index]:
                    seen[index].add(candidate.tokens)
                    results[index].append(candidate)
        return results

    def _decode(self, ids: Sequence[int]) -> str:
        return self.target_tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _masked_jobs(self, tokens: Sequence[int], important: Sequence[int]) -> list[tuple]:
        """One masked-LM input per distinct word among the important positions (whitespace-only words skipped)."""
        texts = [self._decode([t]) for t in tokens]
        spans = sorted({word_span(texts, p) for p in important if 0 <= p < len(tokens)})
        jobs = []
        for start, end in spans:
            word_text = self._decode(tokens[start:end])
            word = word_text.strip()
            if not word:
                continue
            lead = word_text[: len(word_text) - len(word_text.lstrip())]
            trail = word_text[len(word_text.rstrip()):]
            ids, mask_index = self._masked_input(self._decode(tokens[:start]) + lead,
                                                 trail + self._decode(tokens[end:]))
            jobs.append((start, end, lead, trail, word, ids, mask_index))
        return jobs

    def _masked_input(self, prefix: str, suffix: str) -> tuple[list[int], int]:
        """[CLS] prefix [MASK] suffix [SEP] as ids, trimmed around the mask to fit; built from pieces so the mask's
        index is known even if the text itself contains the mask token's spelling."""
        tok = self.mlm_tokenizer
        before = tok(prefix, add_special_tokens=False)["input_ids"] if prefix.strip() else []
        after = tok(suffix, add_special_tokens=False)["input_ids"] if suffix.strip() else []
        head = [tok.cls_token_id] if tok.cls_token_id is not None else []
        tail = [tok.sep_token_id] if tok.sep_token_id is not None else []
        budget = self._max_len - len(head) - len(tail) - 1
        n_after = min(len(after), max(budget // 2, budget - len(before)))
        n_before = min(len(before), budget - n_after)
        before, after = before[len(before) - n_before:], after[:n_after]
        return head + before + [tok.mask_token_id] + after + tail, len(head) + len(before)

    @torch.no_grad()
    def _fill(self, jobs: Sequence[tuple]) -> list[list[str]]:
        """Substitute words for every job's mask, all jobs batched (in chunks, to bound the logits' memory)."""
        out: list[list[str]] = []
        for first in range(0, len(jobs), _CHUNK):
            chunk = jobs[first:first + _CHUNK]
            ids, attention = self._pad([job[-2] for job in chunk])
            logits = self.mlm(input_ids=ids, attention_mask=attention).logits
            rows = torch.arange(len(chunk), device=self.device)
            masks = torch.tensor([job[-1] for job in chunk], device=self.device)
            probs = logits[rows, masks].float().softmax(dim=-1)
            top = probs.topk(min(self.top_n, probs.shape[-1]), dim=-1)
            for job, values, indices in zip(chunk, top.values.tolist(), top.indices.tolist()):
                out.append(self._words(job[-3], values, indices))
        return out

    def _pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pad = self.mlm_tokenizer.pad_token_id or 0
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        attention = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention[row, : len(seq)] = 1
        return ids.to(self.device), attention.to(self.device)

    def _words(self, original: str, probabilities: list[float], ids: list[int]) -> list[str]:
        """The top predictions that are usable whole words, differ from the original and are not repeated."""
        words: list[str] = []
        banned = {original.strip().lower()}
        for probability, token_id in zip(probabilities, ids):
            if probability < self.min_probability or token_id in self._special_ids:
                continue
            if self.mlm_tokenizer.convert_ids_to_tokens(token_id).startswith("##"):
                continue
            word = self.mlm_tokenizer.decode([token_id], clean_up_tokenization_spaces=False).strip()
            if word and word.lower() not in banned:
                banned.add(word.lower())
                words.append(word)
        return words


def _device(device: str) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise N2GError(f"unknown device {device!r} for augmentation: {_one_line(err)}") from err


def _load(model: str | None) -> tuple[Any, Any]:
    """Tokenizer and masked LM from local files only; any failure is one `N2GError` line."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    name = str(Path(model).expanduser()) if model and Path(model).expanduser().exists() else model or DEFAULT_MODEL
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        mlm = AutoModelForMaskedLM.from_pretrained(name, local_files_only=True)
    except Exception as err:  # transformers raises OSError, ValueError, KeyError, ... for a missing or bad model
        if model is None:
            where = "none in the Hugging Face cache"
        elif not Path(model).expanduser().exists():
            where = f"{model!r} is neither a directory nor a model in the Hugging Face cache"
        else:
            where = f"cannot load {model!r}: {_one_line(err)}"
        raise N2GError(f"distilbert augmentation needs a local DistilBERT ({where}); "
                       "pass --augment-model PATH or use --augment lm") from err
    return tokenizer, mlm


def _max_length(tokenizer: Any, mlm: Any) -> int:
    """The longest input the masked LM takes: its position table, or the tokenizer's limit if smaller."""
    limits = [getattr(mlm.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 100_000]
    return min(usable) if usable else _MAX_LEN
