"""Each stage's settings are one typed, frozen dataclass (`MiningConfig`, `FitConfig`, `AugmentConfig`, ...) whose
fields carry their command-line help: `setting(default, help, ...)` keeps a field's default and its help in one
place, and `n2g.cli.options` turns the fields into options, so no default or help is written twice.

A field's option is `--field-name` unless `flag` names another (`sweep_candidates` is `--sweep`: the field name is
part of recorded settings, the flag is what users type). `None` as a default means "chosen by device" or "off";
the help says which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OptionSpec:
    """How a config field appears on the command line."""

    help: str
    flag: str | None = None  # default: --field-name
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False  # the minimum itself is not allowed (a float in (0, 1])
    metavar: str | None = None
    off_flag: str | None = None  # an optional value: this flag sets it to None (`--no-pattern-check`)
    cli: bool = True  # False: a setting of the Python API only


def setting(default: Any = dataclasses.MISSING, help: str = "", *,
            default_factory: Callable[[], Any] | Any = dataclasses.MISSING, **option: Any) -> Any:
    """A config field whose default and help are also its command-line option's."""
    metadata = {"option": OptionSpec(help=help, **option)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def option_spec(field: dataclasses.Field) -> OptionSpec | None:
    """The field's option, or None for a field that is not a command-line setting."""
    spec = field.metadata.get("option")
    return spec if isinstance(spec, OptionSpec) and spec.cli else None

