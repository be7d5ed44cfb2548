"""The lm augmenter's ranking passes: which dtype they run in, and that bf16 autocast changes little."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from n2g.errors import N2GError
from n2g.fit.augmentation import lm_autocast
from n2g.model.loading import LoadedModel, native_bf16
from n2g.model.probe import LayerProbe


def test_auto_autocasts_an_fp32_model_to_bf16_only_where_the_device_has_it(tiny_model: LoadedModel) -> None:
    expected = torch.bfloat16 if native_bf16(tiny_model.device) else None
    assert lm_autocast("auto", tiny_model) == expected
    assert lm_autocast("model", tiny_model) is None
    half = dataclasses.replace(tiny_model, dtype=torch.bfloat16)
    assert lm_autocast("auto", half) is None  # already low precision: left as loaded
    with pytest.raises(N2GError, match="unknown lm dtype"):
        lm_autocast("fp8", tiny_model)


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux's /proc/cpuinfo")
def test_native_bf16_on_cpu_follows_the_cpu_flags() -> None:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert native_bf16(torch.device("cpu")) == bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})


def test_bf16_ranking_pass_agrees_with_fp32(tiny_model: LoadedModel) -> None:
    rows = [(3, [40, 41, 42, 43, 44, 45]), (5, [100, 7, 200, 9]), (3, [60, 61])]
    probe = LayerProbe(tiny_model, 1, 1024)
    exact = probe.language_model_pass(rows, 4)
    fast = probe.language_model_pass(rows, 4, autocast=torch.bfloat16)
    agree = total = 0
    assert any(np.abs(f - e)[1:].max() > 0 for f, e in zip(fast.token_logprobs, exact.token_logprobs))  # it ran bf16
    for r, (_, tokens) in enumerate(rows):
        assert fast.proposals[r].shape == exact.proposals[r].shape == (len(tokens), 4)
        assert fast.token_logprobs[r].dtype == np.float32
        np.testing.assert_allclose(fast.token_logprobs[r][1:], exact.token_logprobs[r][1:], atol=0.25)
        agree += int((fast.proposals[r][1:, 0] == exact.proposals[r][1:, 0]).sum())
        total += len(tokens) - 1
    assert agree >= 0.8 * total
