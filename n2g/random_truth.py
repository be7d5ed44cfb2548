"""The requested neurons' activations on the exemplar set's random windows, several layers per forward pass.

Every neuron's out-of-distribution score and the pattern check's negatives (`n2g.fitting`) need its activations
on the same random windows. A pass stopped at layer L computes every layer before it on its way, so the layers of a
fit are read together: layers 0-2 cost one pass to layer 2 instead of passes to 0, 1 and 2 (and a whole 30-layer
model one pass instead of thirty growing ones). Layers join a pass while their values fit in `max_bytes`;
each layer's values are handed out once and then dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from n2g.exemplar_store import ExemplarSet
from n2g.layer_probe import LayerProbe

NeuronTruth = dict[int, list[np.ndarray]]  # neuron -> per random window [len] raw activations


class RandomWindowTruth:
    def __init__(self, probe: LayerProbe, exemplars: ExemplarSet, wanted: Mapping[int, Sequence[int]],
                 max_bytes: int = 1 << 30) -> None:
        """`wanted`: the neurons of each layer that will ask (`layer_truth`), in the order layers will ask.
        `probe` runs the passes (whatever its own layer) and counts them in its statistics."""
        self.probe, self.max_bytes = probe, max_bytes
        sample = exemplars.random_windows()
        self.tokens, self.lengths = sample["tokens"], sample["lengths"]
        self.pending = {layer: list(neurons) for layer, neurons in wanted.items() if neurons}
        self.ready: dict[int, NeuronTruth] = {}

    def layer_truth(self, layer: int) -> NeuronTruth:
        """Activations of the neurons `wanted` for this layer, measured with the next layers' on first ask."""
        if layer not in self.ready:
            self._measure(self._pass_layers(layer))
        return self.ready.pop(layer)

    def _pass_layers(self, first: int) -> list[int]:
        """`first` and the pending layers after it (in asking order) whose values fit in `max_bytes` together."""
        order = list(self.pending)
        per_neuron = self.tokens.shape[0] * self.tokens.shape[1] * 4  # float32 over every padded window position
        chosen, size = [], 0
        for layer in order[order.index(first):]:
            size += per_neuron * len(self.pending[layer])
            if chosen and size > self.max_bytes:
                break
            chosen.append(layer)
        return chosen

    def _measure(self, layers: list[int]) -> None:
        by_layer = {layer: self.pending.pop(layer) for layer in layers}
        if not len(self.lengths):
            self.ready.update({layer: {n: [] for n in neurons} for layer, neurons in by_layer.items()})
            return
        values = self.probe.layers_neurons(self.tokens, self.lengths, by_layer)
        lengths = [int(length) for length in self.lengths]
        for layer, neurons in by_layer.items():
            layer_values: torch.Tensor = values.pop(layer)  # [rows, width, neurons]
            self.ready[layer] = {n: [layer_values[r, :length, j].numpy() for r, length in enumerate(lengths)]
                                 for j, n in enumerate(neurons)}
