"""Corpus sources: where documents come from, as a deterministic stream of `Document`s.

`--corpus` accepts a local `.txt` (one document per file), `.jsonl` (one per line, text in a field) or
`.parquet` file (one per row), a directory of such files (recursively, sorted), a Hugging Face datasets name
(the online path, streamed), the built-in offline default `python-stdlib` (code), `wikipedia-excerpt` (prose:
106 Wikipedia articles from gensim's test data, `n2g.exemplars.wikipedia`), or several joined by `+`
(`python-stdlib+wikipedia-excerpt`: their documents in turn).
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from n2g.errors import N2GError
from n2g.exemplars.wikipedia import WIKIPEDIA_CORPUS, wikipedia_documents
from n2g.model.hub import hub_reachable

CorpusPart = Literal["all", "fit", "eval"]

STDLIB_CORPUS = "python-stdlib"
MIX = "+"  # `--corpus python-stdlib+wikipedia-excerpt`: documents of each in turn
LOCAL_SUFFIXES = (".txt", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Document:
    """One unit of text; windows never cross a document boundary. `name` says where it came from."""

    name: str
    text: str


def iter_documents(spec: str, text_field: str = "text", split: str = "train") -> Iterator[Document]:
    """Stream the documents of corpus `spec` in a fixed order (same order on every run)."""
    if spec == STDLIB_CORPUS:
        return _iter_files(stdlib_files(), text_field)
    if spec == WIKIPEDIA_CORPUS:
        return (Document(name=f"{WIKIPEDIA_CORPUS}:{title}", text=text) for title, text in wikipedia_documents())
    if MIX in spec and not Path(spec).expanduser().exists():
        return _interleaved([iter_documents(part, text_field, split) for part in spec.split(MIX)])
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in LOCAL_SUFFIXES)
        if not files:
            raise N2GError(f"corpus directory {spec} holds no {', '.join(LOCAL_SUFFIXES)} files")
        return _iter_files(files, text_field)
    if path.is_file():
        if path.suffix not in LOCAL_SUFFIXES and path.suffix != ".py":
            raise N2GError(f"unsupported corpus file {spec}: use {', '.join(LOCAL_SUFFIXES)} or a directory")
        return _iter_files([path], text_field)
    if path.suffix in LOCAL_SUFFIXES + (".py",) or spec.startswith((".", "/", "~")):
        raise N2GError(f"corpus file not found: {spec}")
    return _iter_hf_dataset(spec, text_field, split)


def _interleaved(sources: list[Iterator[Document]]) -> Iterator[Document]:
    """One document of each source in turn (a source that ends drops out), so a token budget takes some of each
    kind of text instead of the first source alone."""
    while sources:
        for source in list(sources):
            document = next(source, None)
            if document is None:
                sources.remove(source)
            else:
                yield document


def stdlib_files() -> list[Path]:
    """The running interpreter's standard-library `.py` files (no site-packages), in a seeded shuffle.

    The shuffle (by a hash of the relative path) makes a token budget sample the whole library instead of
    the first few alphabetical modules; it is the same on every run and machine.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts]
    if not files:
        raise N2GError(f"no standard-library sources under {root}: this Python ships without them")
    return sorted(files, key=lambda p: hashlib.sha256(str(p.relative_to(root)).encode()).hexdigest())


def _iter_files(files: list[Path], text_field: str) -> Iterator[Document]:
    for file in files:
        try:
            if file.suffix == ".jsonl":
                yield from _read_jsonl(file, text_field)
            elif file.suffix == ".parquet":
                yield from _read_parquet(file, text_field)
            else:
                yield Document(name=str(file), text=file.read_text(encoding="utf-8", errors="replace"))
        except OSError as err:
            raise N2GError(f"cannot read corpus file {file}: {err.strerror or err}") from err


def _read_jsonl(file: Path, text_field: str) -> Iterator[Document]:
    with file.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise N2GError(f"{file}:{number}: not valid JSON ({err.msg})") from err
            text = record.get(text_field) if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise N2GError(f"{file}:{number}: no string field {text_field!r} (choose one with --text-field)")
            yield Document(name=f"{file}:{number}", text=text)


def _read_parquet(file: Path, text_field: str) -> Iterator[Document]:
    import pyarrow.lib
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(file)
    except pyarrow.lib.ArrowException as err:
        raise N2GError(f"cannot read parquet file {file}: {err}") from err
    if text_field not in table.schema_arrow.names:
        raise N2GError(f"{file}: no column {text_field!r} (columns: {', '.join(table.schema_arrow.names)}; "
                       f"choose one with --text-field)")
    row = 0
    for batch in table.iter_batches(columns=[text_field], batch_size=1024):
        for text in batch.column(0).to_pylist():
            row += 1
            if isinstance(text, str):
                yield Document(name=f"{file}#{row}", text=text)


def _iter_hf_dataset(name: str, text_field: str, split: str) -> Iterator[Document]:
    """Stream a Hugging Face dataset (the online path); fail in one line when the hub is out of reach."""
    try:
        import datasets
    except ImportError as err:
        raise N2GError(f"corpus {name!r} is not a local path, and the `datasets` package is missing") from err
    offline = (f"corpus {name!r} is not a local path, and the Hugging Face hub cannot be reached: pass a "
               f".txt/.jsonl/.parquet file or directory, or use --corpus {STDLIB_CORPUS}")
    if not hub_reachable() and not _in_datasets_cache(name):
        raise N2GError(offline)
    try:
        stream = datasets.load_dataset(name, split=split, streaming=True)
        first = next(iter(stream), None)
    except Exception as err:  # datasets raises many unrelated types for "cannot reach the hub"
        raise N2GError(f"corpus {name!r} is not a local path and cannot be loaded from the Hugging Face hub "
                       f"({type(err).__name__}); pass a .txt/.jsonl/.parquet file or directory, "
                       f"or use --corpus {STDLIB_CORPUS}") from err
    if first is not None and text_field not in first:
        raise N2GError(f"dataset {name!r} has no field {text_field!r} (fields: {', '.join(first)})")
    return (Document(name=f"{name}[{i}]", text=row[text_field]) for i, row in enumerate(stream))


def _in_datasets_cache(name: str) -> bool:
    """Whether `datasets` has something cached for `name` (then it may load without the hub)."""
    try:
        import datasets.config
    except ImportError:
        return False
    cache = Path(datasets.config.HF_DATASETS_CACHE)
    return cache.is_dir() and any(cache.glob(name.replace("/", "___") + "*"))


def document_part(document: Document, eval_fraction: float, seed: int) -> CorpusPart:
    """Which side of the seeded split `document` is on: decided by a hash of its text (not its path), so the
    split is the same on every machine, and copies of one text never land on both sides."""
    digest = hashlib.sha256(f"{seed}\0".encode() + document.text.encode("utf-8", "surrogatepass")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") < eval_fraction * 2**64 else "fit"


def corpus_part(documents: Iterator[Document], part: CorpusPart, eval_fraction: float,
                seed: int) -> Iterator[Document]:
    """The documents of one part of the corpus (`all`: every one). Fitting on `fit` and scoring on `eval` keeps
    every score on text the graphs never saw, whatever evidence the fit is given."""
    if part == "all":
        return documents
    return (doc for doc in documents if document_part(doc, eval_fraction, seed) == part)
