"""Shared fixtures: a tiny random-weight Llama built locally with a fixed seed, and small real corpora.

The tiny model is saved as an ordinary Hugging Face directory, so it exercises the same `--model DIR` path a
user's local model takes. Its tokenizer is a byte-level BPE trained here on standard-library source.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["tests.neo4j_fixture"]

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Small, stable modules of the running interpreter's standard library: real code and docstrings.
CORPUS_MODULES = ("textwrap.py", "colorsys.py", "bisect.py", "keyword.py", "this.py", "fnmatch.py",
                  "glob.py", "shlex.py")
TINY_LAYERS, TINY_D_MLP = 3, 64


def _train_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-layer, d_mlp=64 Llama with seeded random weights, saved as a Hugging Face directory."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _train_tokenizer([(STDLIB / m).read_text() for m in CORPUS_MODULES])
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=TINY_D_MLP,
                         num_hidden_layers=TINY_LAYERS, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger weights than the init default, so neurons differ clearly between tokens
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.3)
    directory = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from n2g.model.loading import load_model

    return load_model(str(tiny_model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def small_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real text as .txt files, with one file copied twice so that exact duplicates exist."""
    directory = tmp_path_factory.mktemp("corpus")
    for name in CORPUS_MODULES:
        (directory / f"{name}.txt").write_text((STDLIB / name).read_text())
    (directory / "zz_copy_of_bisect.txt").write_text((STDLIB / "bisect.py").read_text())
    return directory


@pytest.fixture(scope="session")
def planted_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted store (`tests.factories.planted_store`), shared read-only by the search tests."""
    from tests.factories import planted_store

    return planted_store(tmp_path_factory.mktemp("planted"))
