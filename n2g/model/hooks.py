"""Where neurons are read, and how a forward pass stops there.

A neuron of layer L is a unit of `blocks.{L}.mlp.hook_post` (`neuron_hook_name`). Nothing after the deepest layer
a pass reads is needed, so its hook raises `StopForward` and `run_until_stopped` ends the pass there quietly.
Grad mode (inference or not) is the caller's: the pivot sweep needs gradients through the same stopped pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

NEURON_HOOK = "blocks.{layer}.mlp.hook_post"  # the template, as recorded in manifests


class StopForward(Exception):
    """Raised by the hook of the deepest layer a pass reads: nothing after it is needed."""


def neuron_hook_name(layer: int) -> str:
    """The hook whose activations [batch, position, d_mlp] are layer `layer`'s neurons."""
    return NEURON_HOOK.format(layer=layer)


def stop_forward(activation: Any, hook: Any = None) -> None:
    """A hook that only stops the pass."""
    raise StopForward


def run_until_stopped(bridge: Any, ids: Any, hooks: Sequence[tuple[str, Callable[..., Any]]]) -> None:
    """Run `bridge` (a TransformerBridge) on `ids` with the forward `hooks` ((name, function) pairs), discarding
    the output; a hook raising `StopForward` ends the pass early, which is the normal way for it to end."""
    try:
        bridge.run_with_hooks(ids, fwd_hooks=list(hooks), return_type=None)
    except StopForward:
        pass
