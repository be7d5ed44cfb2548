"""A tiny Llama (tests/conftest.py) with neurons planted by hand-set weights to fire on exactly one token: the oracle
of the fitting tests. Layer 0's attention output is zeroed, so the MLP sees the token embedding alone; only the planted
token has a component on dimension 0, and each planted neuron reads only dimension 0 (gate 3, up `up`), so its
activation is silu(3 x) * (up x): of the sign of `up` on that token and exactly 0 elsewhere."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from safetensors.torch import load_file, save_file


def frequent_token(model_dir: Path, corpus_dir: Path) -> int:
    """The most frequent multi-character token of the corpus: it occurs in held-out and random windows."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    counts: Counter[int] = Counter()
    for path in sorted(corpus_dir.glob("*.txt")):
        counts.update(tokenizer(path.read_text(), add_special_tokens=False)["input_ids"])
    return next(t for t, _ in counts.most_common() if len(tokenizer.decode([t]).strip()) >= 3)


def plant_neurons(model_dir: Path, directory: Path, token: int, up: Mapping[int, float]) -> Path:
    """A copy of the model in `directory` whose layer-0 neurons `up` fire on `token` alone (sign of the value)."""
    for item in model_dir.iterdir():
        shutil.copy(item, directory / item.name)
    weights = load_file(str(directory / "model.safetensors"))
    embed = weights["model.embed_tokens.weight"]
    embed[:, 0] = 0.0
    embed[token, 0] = 4.0
    weights["model.layers.0.self_attn.o_proj.weight"].zero_()
    for neuron, up_weight in up.items():
        for name, value in (("gate_proj", 3.0), ("up_proj", up_weight)):
            rows = weights[f"model.layers.0.mlp.{name}.weight"]
            rows[neuron] = 0.0
            rows[neuron, 0] = value
    save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory
