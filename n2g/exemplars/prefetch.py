"""Produce the items of an iterator in a background thread, a few ahead of the consumer.

Tokenising the next batches overlaps the forward pass of the current one (Hugging Face tokenizers release
the GIL); on a GPU this keeps the device from waiting on the host. An exception in the producer is raised in
the consumer, and closing the consumer stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


@dataclass
class _Failure:
    error: BaseException


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items` in order, producing up to `depth` of them ahead in a daemon thread."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            offer(_Failure(error))

    producer = threading.Thread(target=produce, name="n2g-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join(timeout=5)
