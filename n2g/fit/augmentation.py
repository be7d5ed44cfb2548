"""Augmentation: variants of each pruned prompt with an important token substituted, kept only where the
neuron still fires on the pivot (activation above the threshold, the paper's rule), so the graph learns which
alternatives the neuron accepts.

Augmenters are pluggable (`make_augmenter`):
- `lm` (default, offline): substitutes are the target model's own most probable next tokens given the left
  context, reranked by the whole variant's log-probability (so a substitute that makes the rest of the prompt
  unlikely loses), all in batched whole-model passes;
- `distilbert`: the paper's DistilBERT fill-mask on whole words, when a local DistilBERT exists;
- `none`.
Substitutes equal to the original, or duplicating another variant of the same prompt, are dropped here,
whatever the augmenter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import numpy as np
import torch

from n2g.config import setting
from n2g.errors import N2GError
from n2g.fit.prompt import AUGMENTED, Candidate, Prompt
from n2g.model.loading import LoadedModel, native_bf16
from n2g.model.probe import LayerProbe

AugmentMethod = Literal["lm", "distilbert", "none"]
LmDtype = Literal["auto", "model"]
AUGMENTERS: tuple[AugmentMethod, ...] = get_args(AugmentMethod)
LM_DTYPES: tuple[LmDtype, ...] = get_args(LmDtype)


@dataclass(frozen=True)
class AugmentConfig:
    """How prompts are varied: the model's own next-token substitutes (lm), DistilBERT fill-mask, or none."""

    method: AugmentMethod = setting("lm", "substitutes from the model's own next-token distribution (lm), DistilBERT "
                                    "fill-mask (distilbert, needs a local model) or none", flag="--augment")
    min_importance: float = setting(0.8, "positions at least this important to the pivot are substituted", cli=False)
    max_positions: int = setting(2, "positions substituted per prompt, most important first", cli=False)
    proposals: int = setting(5, "lm: next-token proposals per position, before reranking", cli=False)
    keep: int = setting(3, "substitutes kept per position after reranking", cli=False)
    # lm: the dtype of the proposal and rescoring passes. "auto": bf16 (autocast) where the device has it natively,
    # else the model's own; "model": the model's own. They only rank candidates: every kept variant is checked by
    # the probe's own pass, in the model's dtype, so bf16 here changes which substitutes are tried, not their values.
    lm_dtype: LmDtype = setting("auto", "dtype of --augment lm's ranking passes: auto = bf16 where the device has it "
                                "natively, model = the model's own (kept variants are always measured in the "
                                "model's dtype)")
    model: str | None = setting(None, "local DistilBERT directory for --augment distilbert", flag="--augment-model")


class Augmenter(Protocol):
    name: str

    def propose(self, prompts: Sequence[Prompt], positions: Sequence[Sequence[int]]) -> list[list[Candidate]]:
        """Per prompt, candidate variants substituting the token (or word) at each given position."""
        ...


class LanguageModelAugmenter:
    name = "lm"

    def __init__(self, probe: LayerProbe, proposals: int, keep: int, autocast: torch.dtype | None = None) -> None:
        self.probe, self.proposals, self.keep, self.autocast = probe, proposals, keep, autocast

    def propose(self, prompts: Sequence[Prompt], positions: Sequence[Sequence[int]]) -> list[list[Candidate]]:
        """Whole-sequence log-probability of a variant = that of the unchanged tokens before the substitute (the
        same for every substitute at a position), the substitute's own (from the proposal pass) and the tokens
        after it. Only the last needs a pass of its own, so a substitute for the last token costs nothing more."""
        proposed = self.probe.language_model_pass([(p.neuron, p.tokens) for p in prompts], self.proposals + 1,
                                                  autocast=self.autocast)
        groups: list[tuple[int, list[Candidate], list[float]]] = []  # per (prompt, position): variants, scores
        rescore: list[tuple[int, int, int]] = []  # (group, variant, position) needing a pass
        for i, (prompt, where) in enumerate(zip(prompts, positions)):
            for k in where:
                offered = zip(proposed.proposals[i][k], proposed.proposal_logprobs[i][k])
                pairs = [(int(t), float(lp)) for t, lp in offered if t >= 0 and t != prompt.tokens[k]]
                pairs = pairs[: self.proposals]
                groups.append((i, [_substitute(prompt, k, t) for t, _ in pairs], [lp for _, lp in pairs]))
                if k < len(prompt.tokens) - 1:
                    rescore.extend((len(groups) - 1, j, k) for j in range(len(pairs)))
        rows = [(prompts[groups[g][0]].neuron, list(groups[g][1][j].tokens)) for g, j, _ in rescore]
        scored = self.probe.language_model_pass(rows, 1, autocast=self.autocast) if rows else None
        for r, (g, j, k) in enumerate(rescore):
            assert scored is not None
            groups[g][2][j] += float(np.nansum(scored.token_logprobs[r][k + 1:]))
        out: list[list[Candidate]] = [[] for _ in prompts]
        for i, variants, logprobs in groups:
            ranked = sorted(range(len(variants)), key=lambda j: -logprobs[j])
            out[i].extend(variants[j] for j in ranked[: self.keep])
        return out


def _substitute(prompt: Prompt, position: int, token: int) -> Candidate:
    tokens = list(prompt.tokens)
    tokens[position] = token
    return Candidate(tuple(tokens), prompt.pivot)


def make_augmenter(config: AugmentConfig, probe: LayerProbe, tokenizer: Any) -> Augmenter | None:
    if config.method == "none":
        return None
    if config.method == "lm":
        return LanguageModelAugmenter(probe, config.proposals, config.keep, lm_autocast(config.lm_dtype, probe.model))
    if config.method == "distilbert":
        from n2g.fit.augment_distilbert import DistilBertAugmenter

        return DistilBertAugmenter(tokenizer, model=config.model, top_n=config.keep, device=str(probe.model.device))
    raise N2GError(f"unknown augmentation {config.method!r} (choose from {', '.join(AUGMENTERS)})")


def lm_autocast(lm_dtype: str, model: LoadedModel) -> torch.dtype | None:
    """The dtype the lm augmenter's passes autocast to (`AugmentConfig.lm_dtype`), None for the model's own."""
    if lm_dtype not in LM_DTYPES:
        raise N2GError(f"unknown lm dtype {lm_dtype!r} (choose from {', '.join(LM_DTYPES)})")
    wanted = lm_dtype == "auto" and model.dtype == torch.float32 and native_bf16(model.device)
    return torch.bfloat16 if wanted else None


def important_positions(prompt: Prompt, config: AugmentConfig, has_bos: bool) -> list[int]:
    """Positions at least `min_importance` important to the pivot, most important first. Without BOS the first
    token has no left context to propose from, so it is skipped."""
    assert prompt.importance is not None
    column = prompt.importance[:, prompt.pivot]
    first = 0 if has_bos else 1
    order = [int(k) for k in np.argsort(-column, kind="stable") if column[k] >= config.min_importance and k >= first]
    return order[: config.max_positions]


def augment(prompts: Sequence[Prompt], augmenter: Augmenter, probe: LayerProbe, config: AugmentConfig,
            floors: dict[int, float]) -> list[Prompt]:
    """New prompts whose pivot activation stays above `floors[neuron]` (threshold x a_max)."""
    positions = [important_positions(p, config, probe.bos is not None) for p in prompts]
    chosen = [i for i, where in enumerate(positions) if where]
    if not chosen:
        return []
    proposed = augmenter.propose([prompts[i] for i in chosen], [positions[i] for i in chosen])
    variants: list[tuple[Prompt, Candidate]] = []
    for i, candidates in zip(chosen, proposed):
        seen = {tuple(prompts[i].tokens)}
        for cand in candidates:
            if cand.tokens not in seen:
                seen.add(cand.tokens)
                variants.append((prompts[i], cand))
    acts = probe.neuron_acts([(p.neuron, list(c.tokens)) for p, c in variants], "augment-check")
    return [Prompt(p.neuron, list(c.tokens), values, c.pivot, float(values[c.pivot]), AUGMENTED)
            for (p, c), values in zip(variants, acts) if values[c.pivot] > floors[p.neuron]]
