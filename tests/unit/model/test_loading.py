"""Model-access helpers that need no model: turning library failures into one line."""

from __future__ import annotations

import pytest

from n2g.errors import N2GError
from n2g.model.loading import one_line_errors


@pytest.mark.parametrize("error, expected", [
    (OSError("no config.json\nmore detail"), "cannot load model m: no config.json"),
    (KeyError(""), "cannot load model m: ''"),
    (ValueError(), "cannot load model m: ValueError"),  # an empty message still gives a line
    (NotImplementedError("  \n"), "cannot load model m: NotImplementedError"),
])
def test_library_errors_become_one_line(error: Exception, expected: str) -> None:
    with pytest.raises(N2GError) as raised, one_line_errors("cannot load model m"):
        raise error
    assert str(raised.value) == expected and "\n" not in str(raised.value)


def test_other_errors_pass_through() -> None:
    with pytest.raises(ZeroDivisionError), one_line_errors("cannot load model m"):
        raise ZeroDivisionError


def test_text_windows_cover_every_position_once_with_context() -> None:
    from n2g.model.probe import text_windows

    assert text_windows(0, 8, 2) == [] and text_windows(5, 8, 2) == [(0, 0, 5)]
    for length, window, context in [(10, 4, 1), (2500, 1024, 128), (33, 8, 8), (100, 7, 3)]:
        spans = text_windows(length, window, context)
        reported = [p for _, first, end in spans for p in range(first, end)]
        assert reported == list(range(length))
        for start, first, end in spans:
            assert end - start <= window and (first == 0 or first - start >= min(context, window // 2))


def test_long_text_activations_are_windowed_and_exact_within_a_window(tiny_model) -> None:
    """A text longer than the model's context is read in windows (no error, bounded memory); within a window the
    values equal one whole pass."""
    import numpy as np

    from n2g.model import probe as probe_module
    from n2g.model.probe import LayerProbe

    probe = LayerProbe(tiny_model, 1, 4096)
    tokens = tiny_model.tokenizer("def f(x):\n    return x + 1\n" * 80, add_special_tokens=False)["input_ids"]
    assert len(tokens) > probe.text_window()  # longer than the tiny model's 256-token context
    values = probe.text_acts([3, 7], tokens)
    assert values.shape == (2, len(tokens)) and np.isfinite(values).all()
    short = tokens[:100]
    whole = probe.neuron_acts([(3, short)])[0]
    np.testing.assert_allclose(probe.text_acts([3], short)[0], whole, rtol=1e-5, atol=1e-6)
    assert probe_module.TEXT_CONTEXT > 0
