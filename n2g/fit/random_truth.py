"""The requested neurons' activations on the exemplar set's random windows, several layers per forward pass.

Every neuron's out-of-distribution score and the pattern check's negatives (`n2g.fit.fitter`) need its activations
on the same random windows. A pass stopped at layer L computes every layer before it on its way, so the layers of a
fit are read together: layers 0-2 cost one pass to layer 2 instead of passes to 0, 1 and 2. Layers join a pass
while their values fit in `max_bytes` (1 GiB: about ten full SmolLM2 layers, so a whole 30-layer model takes three
passes instead of thirty growing ones); each layer's values are handed out once and then dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from n2g.errors import N2GError
from n2g.exemplars.files import ExemplarSet
from n2g.model.loading import LoadedModel
from n2g.model.probe import LayerProbe

NeuronTruth = dict[int, list[np.ndarray]]  # neuron -> per random window [len] raw activations


def signed_truth(truth: NeuronTruth, sign: int) -> NeuronTruth:
    """`truth` in one direction: as it is for +1, negated for -1 (what a probe of that sign would have read)."""
    return truth if sign > 0 else {n: [-values for values in windows] for n, windows in truth.items()}


class RandomWindowTruth:
    def __init__(self, probe: LayerProbe, exemplars: ExemplarSet, wanted: Mapping[int, Sequence[int]],
                 max_bytes: int = 1 << 30) -> None:
        """`wanted`: the neurons of each layer that will ask (`layer_truth`). `probe` runs the passes (whatever
        its own layer) and counts them in its statistics. Nothing runs, or loads, before the first ask."""
        self.probe, self.exemplars, self.max_bytes = probe, exemplars, max_bytes
        self.pending = {layer: list(neurons) for layer, neurons in wanted.items() if neurons}
        self.ready: dict[int, NeuronTruth] = {}
        self.handed_out: set[int] = set()
        self._sample: dict[str, torch.Tensor] | None = None

    @classmethod
    def for_layers(cls, model: LoadedModel, exemplars: ExemplarSet, wanted: Mapping[int, Sequence[int]],
                   token_budget: int) -> RandomWindowTruth:
        """With a probe of its own, sized `token_budget` (its statistics: `.probe.stats`)."""
        return cls(LayerProbe(model, max(wanted, default=0), token_budget), exemplars, wanted)

    def layer_truth(self, layer: int) -> NeuronTruth:
        """Activations of the neurons `wanted` for this layer (none: empty), measured with other pending layers'
        on first ask. Each layer is handed out once."""
        if layer in self.handed_out:
            raise N2GError(f"the random-window values of layer {layer} were already handed out")
        self.handed_out.add(layer)
        if layer not in self.ready and layer not in self.pending:
            return {}
        if layer not in self.ready:
            self._measure(self._pass_layers(layer))
        return self.ready.pop(layer)

    def _pass_layers(self, first: int) -> list[int]:
        """`first`, then other pending layers, shallowest first, while their values fit in `max_bytes`."""
        tokens = self._windows()["tokens"]
        per_neuron = tokens.shape[0] * tokens.shape[1] * 4  # float32 over every padded window position
        chosen, size = [], 0
        for layer in [first, *sorted(set(self.pending) - {first})]:
            size += per_neuron * len(self.pending[layer])
            if chosen and size > self.max_bytes:
                break
            chosen.append(layer)
        return chosen

    def _windows(self) -> dict[str, torch.Tensor]:
        if self._sample is None:
            self._sample = self.exemplars.random_windows()
        return self._sample

    def _measure(self, layers: list[int]) -> None:
        by_layer = {layer: self.pending.pop(layer) for layer in layers}
        tokens, lengths = self._windows()["tokens"], self._windows()["lengths"]
        if not len(lengths):
            self.ready.update({layer: {n: [] for n in neurons} for layer, neurons in by_layer.items()})
            return
        values = self.probe.layers_neurons(tokens, lengths, by_layer)
        row_lengths = [int(length) for length in lengths]
        for layer, neurons in by_layer.items():
            layer_values: torch.Tensor = values.pop(layer)  # [rows, width, neurons]
            self.ready[layer] = {n: [layer_values[r, :length, j].numpy() for r, length in enumerate(row_lengths)]
                                 for j, n in enumerate(neurons)}
