"""Command-line options made from the config dataclasses (`n2g.config.setting`) and the few options several
commands share, so that every default and every help text is written once.

`config_options(FitConfig)` decorates a click command with one option per command-line field (a nested config,
such as `FitConfig.augment`, adds its own fields); `build_config(FitConfig, values)` turns the parsed values back
into the dataclass. Option types come from the field's type: `int`/`float` with the field's bounds (floats must be
finite), `Literal[...]` as a choice, `bool` as a flag.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import click

from n2g.config import option_spec

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")
OFF_SUFFIX = "__off"


class FiniteFloat(click.FloatRange):
    """A float option that refuses nan and infinities (which pass every range check)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class BoundedInt(click.IntRange):
    """An integer option within the 64-bit range every engine and tensor takes (a larger one is refused here, not
    deep inside a library)."""

    name = "integer"

    def __init__(self, min: int | None = None, max: int | None = None) -> None:  # noqa: A002 - click's names
        super().__init__(min=-(2**63) if min is None else min, max=2**63 - 1 if max is None else max)

    def _describe_range(self) -> str:
        low = None if self.min is None or self.min <= -(2**63) else self.min
        high = None if self.max is None or self.max >= 2**63 - 1 else self.max
        if low is None and high is None:
            return ""
        if high is None:
            return f"x>={low}"
        return f"x<={high}" if low is None else f"{low}<=x<={high}"


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _nested_config(hint: Any) -> type | None:
    hint = _strip_optional(hint)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _click_type(hint: Any, spec: Any) -> Any:
    hint = _strip_optional(hint)
    if typing.get_origin(hint) is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(hint)])
    if hint is int:
        return BoundedInt(min=None if spec.minimum is None else int(spec.minimum),
                          max=None if spec.maximum is None else int(spec.maximum))
    if hint is float:
        return FiniteFloat(min=spec.minimum, max=spec.maximum, min_open=spec.min_open)
    return click.STRING


def _options(cls: type, prefix: str, skip: Collection[str]) -> list[click.Option]:
    hints = typing.get_type_hints(cls)
    options: list[click.Option] = []
    for field in dataclasses.fields(cls):
        nested = _nested_config(hints[field.name])
        if nested is not None:
            options.extend(_options(nested, f"{prefix}{field.name}__", skip))
            continue
        spec = option_spec(field)
        if spec is None or field.name in skip:
            continue
        flag = spec.flag or "--" + field.name.replace("_", "-")
        name = prefix + field.name
        default = None if field.default is dataclasses.MISSING else field.default
        if typing.get_origin(_strip_optional(hints[field.name])) is tuple:  # a repeatable option
            options.append(click.Option([flag, name], multiple=True, default=(), metavar=spec.metavar,
                                        help=spec.help))
        elif _strip_optional(hints[field.name]) is bool:
            flags = {} if "/" in flag else {"is_flag": True}  # `--x/--no-x` is a flag already (None: neither)
            options.append(click.Option([flag, name], default=default, help=spec.help,
                                        show_default=default is not None and "/" not in flag, **flags))
        else:
            options.append(click.Option([flag, name], type=_click_type(hints[field.name], spec), default=default,
                                        show_default=default is not None, metavar=spec.metavar, help=spec.help))
        if spec.off_flag:
            options.append(click.Option([spec.off_flag, name + OFF_SUFFIX], is_flag=True, default=False,
                                        help=f"turn {flag} off"))
    return options


def config_options(cls: type, *, prefix: str = "", skip: Collection[str] = ()) -> Callable[[F], F]:
    """Decorate a command with an option per command-line field of `cls` (fields named in `skip` left out)."""
    return _attach(_options(cls, prefix, skip))


def _attach(options: list[click.Option]) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        params = getattr(function, "__click_params__", [])
        params.extend(reversed(options))  # click reverses the decorators' order
        function.__click_params__ = params  # type: ignore[attr-defined]
        return function

    return decorate


def build_config(cls: type[C], values: Mapping[str, Any], *, prefix: str = "", **fixed: Any) -> C:
    """The dataclass `cls` from parsed option values (`config_options`); `fixed` sets fields the command decides
    itself (layers, neurons, ...). Fields without a value keep their defaults."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name = prefix + field.name
        nested = _nested_config(hints[field.name])
        if field.name in fixed:
            kwargs[field.name] = fixed[field.name]
        elif nested is not None:
            kwargs[field.name] = build_config(nested, values, prefix=f"{name}__")
        elif values.get(name + OFF_SUFFIX):
            kwargs[field.name] = None
        elif name in values:
            kwargs[field.name] = values[name]
    return cls(**kwargs)


def progress_option(function: F) -> F:
    """`--progress/--no-progress`: progress bars; by default only on a terminal (quiet in pipes and CI)."""
    return click.option("--progress/--no-progress", "progress", default=None,
                        help="progress bars and stage lines on stderr (default: when stderr is a terminal)")(function)


def show_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def model_options(recorded: str | None = None) -> Callable[[F], F]:
    """`--model`, `--device`, `--dtype`, `--bos/--no-bos` (`ModelConfig`). `recorded`: for commands that work on
    earlier results, whose model is by default the one those were made with (e.g. "the exemplars'")."""
    from n2g.model.loading import ModelConfig

    generated = _options(ModelConfig, "", ())
    if recorded is not None:
        for option in generated:
            if option.name == "model":
                option.default, option.show_default = None, False
                option.help = f"{option.help} (default: {recorded} model)"
    return _attach(generated)


def corpus_option(function: F) -> F:
    return click.option("--corpus", default="python-stdlib", show_default=True,
                        help="python-stdlib (offline), a .txt/.jsonl/.parquet file or directory, or a Hugging Face "
                             "dataset name (NeelNanda/pile-10k)")(function)


def layers_option(function: F) -> F:
    return click.option("--layers", default=None, help="layers, inclusive ranges: 0:4, 0,5,10 or all "
                        "(default: all; see --neurons)")(function)


def neurons_option(function: F) -> F:
    from n2g.specs import SELECTION_HELP

    return click.option("--neurons", default="all", show_default=True, help=SELECTION_HELP)(function)


def fit_config(values: Mapping[str, Any], **fixed: Any) -> Any:
    """The fit settings from options (`--paper-faithful` applied last), for `n2g fit`, `ingest` and `report`."""
    from n2g.fit.fitter import FitConfig

    config = build_config(FitConfig, values, **fixed)
    return config.paper_faithful() if values.get("paper_faithful") else config
