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
