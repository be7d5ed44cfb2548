"""What the web app reads from: one read-only `NeuronSearch`, used under a lock (the web server answers requests on
several threads; one connection serves them one at a time), small caches for what does not change while it
serves, and, for the neuron pages' windows, the exemplars and tokenizers that are reachable.

Exemplars are reachable when given (`n2g serve --exemplars DIR` / `--work-dir DIR`) or found beside the store
(`exemplars/`, `n2g-work/exemplars`, `n2g-work/shard-*/exemplars` next to the store's file): a directory is used
for a model only when its mining settings are the ones the store recorded for that model, so the windows shown are
the ones the graphs were fitted from. A tokenizer is loaded only for a model given by a local path or the offline
default model (never from the network).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ingest.store import is_neo4j_uri
from n2g.errors import N2GError, redact
from n2g.exemplars.files import ExemplarSet, NeuronExemplars
from queries.search import NeuronSearch

T = TypeVar("T")
CACHE_SECONDS = 60.0  # model summaries and plots: a store may still be loading while it is served


@dataclass(frozen=True)
class ModelInfo:
    name: str
    spec: str  # what `--model` was (a name, a path)
    settings: dict[str, Any]


def exemplar_candidates(db: str, given: Iterable[str | Path] = (), work_dirs: Iterable[str | Path] = ()) -> list[Path]:
    """Exemplar directories to consider: those given, those of the work directories given, then those beside a
    store file (its folder's `exemplars/`, `n2g-work/exemplars`, `n2g-work/shard-*/exemplars`)."""
    found = [Path(p) for p in given]
    roots = [Path(p) for p in work_dirs]
    if not is_neo4j_uri(db):
        roots.append(Path(db).resolve().parent)
        roots.append(Path(db).resolve().parent / "n2g-work")
    for root in roots:
        found += [root / "exemplars", *sorted(root.glob("shard-*/exemplars"))]
    unique: dict[Path, None] = {}
    for path in found:
        if (path / "manifest.json").is_file():
            unique.setdefault(path.resolve())
    return list(unique)


def _mined_like(exemplars: ExemplarSet, recorded: dict[str, Any]) -> bool:
    """Whether these exemplars were mined with the settings a store recorded for a model (layers and neurons
    aside: a store records what must agree between all of a model's graphs)."""
    settings = exemplars.manifest.get("settings")
    return isinstance(settings, dict) and bool(recorded) and all(settings.get(k) == v for k, v in recorded.items())


def _local_model(spec: str) -> bool:
    from n2g.model.loading import DEFAULT_MODEL

    return spec == DEFAULT_MODEL or Path(spec).expanduser().exists()


class Backend:
    """The store and what the pages need besides it. Every store access goes through `call` (one at a time)."""

    def __init__(self, db: str, exemplar_dirs: Sequence[str | Path] = (), work_dirs: Sequence[str | Path] = (),
                 tokenizers: bool = True) -> None:
        self.db = db
        self.location = redact(db)
        self.search = NeuronSearch(db)  # read-only: the store is opened so, and `query` refuses writing Cypher
        self._lock = threading.RLock()
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._tokenizers: dict[str, Any] = {}
        self._use_tokenizers = tokenizers
        self._exemplar_paths = exemplar_candidates(db, exemplar_dirs, work_dirs)
        self._exemplars: dict[str, list[ExemplarSet]] | None = None

    def close(self) -> None:
        with self._lock:
            self.search.close()

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `function(*args, **kwargs)` with the store to itself."""
        with self._lock:
            return function(*args, **kwargs)

    def cached(self, key: Any, make: Callable[[], T], seconds: float | None = CACHE_SECONDS) -> T:
        """`make()`'s value, kept `seconds` (None: as long as the app runs)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and (seconds is None or now - hit[0] < seconds):
            return hit[1]  # type: ignore[no-any-return]
        value = make()  # outside the lock (a plot takes a while); its store reads take the lock themselves
        with self._lock:
            self._cache[key] = (now, value)
        return value

    # -- models ----------------------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        def read() -> list[ModelInfo]:
            rows = self.search.run(self.search.prepare("models"))
            infos = []
            for name, text in zip(rows.get("name", []), rows.get("settings", [])):
                settings = json.loads(text) if isinstance(text, str) else {}
                infos.append(ModelInfo(str(name), str(settings.get("model", name)), settings))
            return infos

        return self.cached("models", lambda: self.call(read))

    def model(self, name: str) -> ModelInfo | None:
        return next((info for info in self.models() if info.name == name), None)

    def only_model(self) -> str | None:
        names = [info.name for info in self.models()]
        return names[0] if len(names) == 1 else None

    # -- tokenizers and exemplars ---------------------------------------------------------------------------------
    def tokenizer(self, model: str) -> Any | None:
        """The model's tokenizer where it can be had offline (a local path, the default model); else None."""
        info = self.model(model)
        if not self._use_tokenizers or info is None or not _local_model(info.spec):
            return None
        with self._lock:
            if info.spec not in self._tokenizers:
                from n2g.model.loading import load_tokenizer

                try:
                    self._tokenizers[info.spec] = load_tokenizer(info.spec)
                except (N2GError, OSError, ValueError):
                    self._tokenizers[info.spec] = None
            return self._tokenizers[info.spec]

    def preload(self) -> list[str]:
        """Load every stored model's tokenizer now (they take seconds); the models whose tokenizer loaded."""
        return [info.name for info in self.models() if self.tokenizer(info.name) is not None]

    def exemplar_sets(self, model: str) -> list[ExemplarSet]:
        with self._lock:
            if self._exemplars is None:
                self._exemplars = {}
                sets = []
                for path in self._exemplar_paths:
                    try:
                        sets.append(ExemplarSet(path))
                    except N2GError:
                        continue
                for info in self.models():
                    recorded = info.settings.get("exemplars") or {}
                    self._exemplars[info.name] = [s for s in sets if _mined_like(s, recorded)]
            return self._exemplars.get(model, [])

    def exemplar_dirs(self, model: str) -> list[Path]:
        return [s.dir for s in self.exemplar_sets(model)]

    def neuron_exemplars(self, model: str, layer: int, neuron: int) -> NeuronExemplars | None:
        """The neuron's mined windows, from the first reachable exemplar directory that has them."""
        for exemplars in self.exemplar_sets(model):
            if layer in exemplars.layers:
                try:
                    return self.call(exemplars.neuron, layer, neuron)
                except N2GError:
                    continue
        return None
