"""The integration tier: the real SmolLM2, real processes killed mid-run, real stores and servers, the browser.
Every test under this folder is marked `integration` (`make test-fast` leaves them out)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
