"""What every output directory of n2g shares (exemplars, graphs, reports): creating it, writing a file so that a
kill never leaves it torn, reading its manifest, and refusing to mix results made with other settings.

A file is written to a temporary name beside it (`temporary_path`) and renamed into place; `prepare_directory`
removes the temporaries a killed write left behind. Only the standard library and `n2g.errors` are used here.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from n2g.errors import N2GError

MANIFEST = "manifest.json"


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place (a name `prepare_directory` cleans up)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def prepare_directory(out_dir: Path) -> None:
    """Create the output directory; refuse a path that is a file; drop temporaries of killed writes."""
    make_directory(out_dir, "--out ")
    remove_temporaries(out_dir)


def make_directory(directory: Path, label: str = "") -> None:
    """Create `directory` (and its parents), or say in one line why not; `label` names it in the message."""
    if directory.exists() and not directory.is_dir():
        raise N2GError(f"{label}{directory} is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise N2GError(f"cannot create {label}{directory}: {err.strerror or err}") from err


def remove_temporaries(out_dir: Path) -> None:
    """Remove what killed writes left behind (`temporary_path` names)."""
    for leftover in out_dir.glob(".*.tmp-*"):
        leftover.unlink(missing_ok=True)


def save_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON, atomically."""
    tmp = temporary_path(path)
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The directory's `manifest.json`, or None when it has none; a damaged one is refused."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise N2GError(f"{path} is not valid JSON: delete the directory to start over") from err
    if not isinstance(found, dict):
        raise N2GError(f"{path} is damaged (not a JSON object): delete the directory to start over")
    return found


# -- same settings or refuse ------------------------------------------------------------------------------------
_ABSENT = object()


def setting_differences(found: Mapping[str, Any], wanted: Mapping[str, Any],
                        ignore: Collection[str] = ()) -> list[tuple[str, Any, Any]]:
    """(dotted path, value in `found`, value in `wanted`) of every setting that differs, by path. Mappings are
    compared key by key (a key missing on one side differs, its value shown as absent); any other value as a whole,
    as JSON would write it: a tuple equals the list of its items, but 1 is not True and 1 is not 1.0. `ignore`
    holds dotted paths left out, with everything under them."""
    out: list[tuple[str, Any, Any]] = []
    _differences(found, wanted, "", frozenset(ignore), out)
    return sorted(out, key=lambda item: item[0])


def _differences(found: Mapping[str, Any], wanted: Mapping[str, Any], prefix: str, ignore: frozenset[str],
                 out: list[tuple[str, Any, Any]]) -> None:
    for key in {*found, *wanted}:
        path = f"{prefix}{key}"
        if path in ignore:
            continue
        there, here = found.get(key, _ABSENT), wanted.get(key, _ABSENT)
        if isinstance(there, Mapping) and isinstance(here, Mapping):
            _differences(there, here, f"{path}.", ignore, out)
        elif not _same(there, here):
            out.append((path, there, here))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def show_setting(value: Any, limit: int = 60) -> str:
    """A setting's value as JSON would write it (`absent` for a missing one), cut to `limit` characters."""
    if value is _ABSENT:
        return "absent"
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_same_settings(found: Mapping[str, Any], wanted: Mapping[str, Any], *, where: str, what: str,
                        remedy: str, ignore: Collection[str] = (), sides: tuple[str, str] = ("there", "here")
                        ) -> None:
    """Refuse, in one `N2GError` line, results made with settings `found` where `wanted` ones are asked for:
    `{where} holds {what} made with other settings: {path} is {found value} there, {wanted value} here
    (and N more differ): {remedy}`, naming the first differing setting (`setting_differences`). `sides` names
    where each value comes from."""
    differing = setting_differences(found, wanted, ignore)
    if not differing:
        return
    path, there, here = differing[0]
    more = f" (and {len(differing) - 1} more differ)" if len(differing) > 1 else ""
    raise N2GError(f"{where} holds {what} made with other settings: {path} is {show_setting(there)} {sides[0]}, "
                   f"{show_setting(here)} {sides[1]}{more}: {remedy}")


LOCK_FILE = ".n2g.lock"


@contextmanager
def directory_lock(directory: Path, what: str) -> Iterator[None]:
    """Hold `directory` for one writing process (`n2g ingest`, `exemplars`, `fit`): a second one is refused at once
    with the holder's PID, instead of the two colliding. The lock is the kernel's (flock), so a killed holder
    releases it; the file it lives in records the holder for the message."""
    make_directory(directory)
    path = directory / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise N2GError(f"{directory} is in use by {holder} ({what}): wait for it to finish, or use another "
                           "directory") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
