"""The lm augmenter's ranking passes: which dtype they run in, and that bf16 autocast changes little."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from n2g.errors import N2GError
from n2g.fit import augmentation
from n2g.fit.augmentation import lm_autocast
from n2g.model.loading import LoadedModel, native_bf16
from n2g.model.probe import LayerProbe


@pytest.mark.parametrize("native, dtype, lm_dtype, expected", [
    (True, torch.float32, "auto", torch.bfloat16),  # the one case that autocasts
    (False, torch.float32, "auto", None),  # emulated bf16 would be slower
    (True, torch.float32, "model", None),  # asked for the model's own dtype
    (True, torch.bfloat16, "auto", None),  # already low precision: left as loaded
    (True, torch.float16, "auto", None),
    (False, torch.bfloat16, "model", None),
])
def test_auto_autocasts_an_fp32_model_to_bf16_only_where_the_device_has_it(
        tiny_model: LoadedModel, monkeypatch: pytest.MonkeyPatch, native: bool, dtype: torch.dtype, lm_dtype: str,
        expected: torch.dtype | None) -> None:
    monkeypatch.setattr(augmentation, "native_bf16", lambda device: native)
    assert lm_autocast(lm_dtype, dataclasses.replace(tiny_model, dtype=dtype)) == expected
    with pytest.raises(N2GError, match="unknown lm dtype 'fp8'"):
        lm_autocast("fp8", tiny_model)


@pytest.mark.parametrize("capability, expected", [((7, 5), False), ((8, 0), True), ((9, 0), True), ((6, 1), False)])
def test_native_bf16_on_cuda_needs_compute_capability_8(monkeypatch: pytest.MonkeyPatch,
                                                       capability: tuple[int, int], expected: bool) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert native_bf16(torch.device("cuda:0")) is expected


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, False), (True, False, True),
                                                        (False, True, True), (True, True, True)])
def test_native_bf16_on_cpu_needs_avx512_bf16_or_amx(monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool,
                                                    expected: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert native_bf16(torch.device("cpu")) is expected


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
