"""The background producer: order, errors, and stopping early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from n2g.errors import N2GError
from n2g.exemplars.prefetch import prefetch


def test_yields_everything_in_order() -> None:
    assert list(prefetch(range(1000), depth=3)) == list(range(1000))


def test_producer_error_is_raised_in_consumer_after_earlier_items() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise N2GError("corpus went away")

    seen = []
    with pytest.raises(N2GError, match="corpus went away"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_closing_the_consumer_stops_the_producer() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 5 + 2 + 2  # stopped, at most depth (+ one in hand) ahead
    assert not any(t.name == "n2g-prefetch" and t.is_alive() for t in threading.enumerate())
