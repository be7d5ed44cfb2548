"""Fitting graphs, batched across neurons: prompts, pruning, saliency, augmentation, building, the pattern check,
the pivot sweep, random-window truth, the fitter and `n2g fit` runs."""
