"""`n2g-search`'s options as HTTP query parameters, made from `queries.request.SearchRequest`'s fields (the ones not
in `queries.request.CLI_ONLY`): the same names with `_` for `-` (`--activating-token import` is
`?activating_token=import`), the same defaults, bounds and help. A field added to `SearchRequest` is a parameter of
the API, a line of its OpenAPI description and a field of the search page's form, with no code here.

One parser serves the API and the page, so both refuse the same input with the same one-line message: a repeatable
option is a repeated parameter; a flag is `true`/`false` (`1`/`0`, `yes`/`no`, `on`/`off`; present but empty:
true); numbers are finite and within the option's bounds; an empty value of any other field means "not given";
an unknown parameter is refused, naming the known ones.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from n2g.config import OptionSpec, option_spec
from n2g.errors import N2GError
from queries.request import CLI_ONLY, SearchRequest

TRUE, FALSE = ("true", "1", "yes", "on", ""), ("false", "0", "no", "off")
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Param:
    """One query parameter: a `SearchRequest` field as HTTP sees it."""

    name: str
    kind: str  # "list" | "bool" | "int" | "float" | "choice" | "str"
    default: Any
    help: str
    spec: OptionSpec
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _kind(hint: Any) -> tuple[str, tuple[str, ...]]:
    hint = _strip_optional(hint)
    if typing.get_origin(hint) is tuple:
        return "list", ()
    if typing.get_origin(hint) is typing.Literal:
        return "choice", tuple(str(a) for a in typing.get_args(hint))
    if hint is bool:
        return "bool", ()
    if hint is int:
        return "int", ()
    if hint is float:
        return "float", ()
    return "str", ()


def search_params() -> list[Param]:
    """Every HTTP parameter, in `SearchRequest`'s field order."""
    hints = typing.get_type_hints(SearchRequest)
    params = []
    for field in dataclasses.fields(SearchRequest):
        spec = option_spec(field)
        if spec is None or field.name in CLI_ONLY:
            continue
        kind, choices = _kind(hints[field.name])
        default = None if field.default is dataclasses.MISSING else field.default
        params.append(Param(field.name, kind, list(default) if kind == "list" else default, spec.help, spec, choices))
    return params


PARAMS: dict[str, Param] = {p.name: p for p in search_params()}


def search_kinds() -> list[str]:
    """The flags that choose a search by themselves (`repeated_token`, `duplicates`, ...): the boolean fields with
    which alone `SearchRequest.kind()` accepts a request."""
    found = []
    for param in PARAMS.values():
        if param.kind == "bool":
            try:
                SearchRequest(**{param.name: True}).kind()
            except N2GError:
                continue
            found.append(param.name)
    return found


def _number(param: Param, text: str) -> int | float:
    spec = param.spec
    try:
        value: int | float = int(text, 10) if param.kind == "int" else float(text)
    except ValueError:
        raise N2GError(f"{param.name}: {text!r} is not {'an integer' if param.kind == 'int' else 'a number'}") \
            from None
    if isinstance(value, float) and not math.isfinite(value):
        raise N2GError(f"{param.name}: {text!r} is not a finite number")
    low = spec.minimum if spec.minimum is not None else (INT64[0] if param.kind == "int" else None)
    high = spec.maximum if spec.maximum is not None else (INT64[1] if param.kind == "int" else None)
    if low is not None and (value < low or (spec.min_open and value == low)):
        raise N2GError(f"{param.name}: {text} is below the lowest value, {'more than ' if spec.min_open else ''}{low}")
    if high is not None and value > high:
        raise N2GError(f"{param.name}: {text} is above the highest value, {high}")
    return value


def convert(param: Param, values: Sequence[str]) -> Any:
    """One parameter's value from its raw query values (a list: a parameter may repeat)."""
    if param.kind == "list":
        return tuple(values)
    if len(values) > 1:
        raise N2GError(f"{param.name}: give it once (it was given {len(values)} times)")
    text = values[0].strip() if values else ""
    if param.kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise N2GError(f"{param.name}: {text!r} is not true or false")
    if text == "":
        return param.default
    if param.kind in ("int", "float"):
        return _number(param, text)
    if param.kind == "choice" and text not in param.choices:
        raise N2GError(f"{param.name}: {text!r} is not one of {', '.join(param.choices)}")
    return text


def parse(query: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, str]]:
    """Query pairs -> (SearchRequest field values given, the `extra` names' values). Unknown names are refused."""
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        grouped.setdefault(name, []).append(value)
    allowed = set(extra)
    unknown = sorted(set(grouped) - set(PARAMS) - allowed)
    if unknown:
        hint = ""
        fixed = unknown[0].replace("-", "_").lstrip("_")
        if fixed in PARAMS:
            hint = f" (write {fixed}: the option's name with _ for -)"
        raise N2GError(f"unknown parameter {unknown[0]!r}{hint}; the parameters are {', '.join(PARAMS)}")
    values = {name: convert(PARAMS[name], raw) for name, raw in grouped.items() if name in PARAMS}
    return values, {name: raw[-1] for name, raw in grouped.items() if name in allowed}


def build(values: Mapping[str, Any]) -> SearchRequest:
    return SearchRequest(**{name: value for name, value in values.items() if name in PARAMS})


def given(request: SearchRequest) -> list[tuple[str, str]]:
    """The query pairs that make `request` (defaults left out): for links that repeat a search."""
    pairs: list[tuple[str, str]] = []
    for param in PARAMS.values():
        value = getattr(request, param.name)
        default = param.default if param.kind != "list" else []
        if param.kind == "list":
            pairs += [(param.name, str(v)) for v in value]
        elif value != default and value is not None:
            pairs.append((param.name, "true" if value is True else "false" if value is False else str(value)))
    return pairs


# --- OpenAPI -------------------------------------------------------------------------------------------------------


def _schema(param: Param) -> dict[str, Any]:
    spec = param.spec
    if param.kind == "list":
        return {"type": "array", "items": {"type": "string"}, "default": []}
    schema: dict[str, Any] = {"type": {"bool": "boolean", "int": "integer", "float": "number"}.get(param.kind,
                                                                                                   "string")}
    if param.kind == "choice":
        schema["enum"] = list(param.choices)
    if param.kind in ("int", "float"):
        if spec.minimum is not None:
            schema["exclusiveMinimum" if spec.min_open else "minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
    if param.default is not None:
        schema["default"] = param.default
    return schema


def openapi_parameters() -> list[dict[str, Any]]:
    """The search parameters as OpenAPI 3 parameter objects."""
    out = []
    for param in PARAMS.values():
        description = f"{param.help} (`n2g-search {param.flag}`)"
        if param.kind == "list":
            description += "; repeat the parameter for several"
        out.append({"name": param.name, "in": "query", "required": False, "description": description,
                    "schema": _schema(param), **({"explode": True, "style": "form"} if param.kind == "list" else {})})
    return out
