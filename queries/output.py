"""Search results as a table for people, or JSON / CSV for analyses: the same columns in all three."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from n2g.graphs.rendering import visible_text

FORMATS = ("table", "json", "csv")
HIDDEN_IN_TABLE = ("graph_json",)  # too long for a terminal; JSON and CSV carry it
CELL_WIDTH = 48


def _plain(value: Any) -> Any:
    """A JSON-ready value: NaN (LadybugDB's missing float in frames) and infinities (which JSON cannot hold) become
    None, numpy scalars Python ones, bytes readable text."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return [_plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{column: _plain(value) for column, value in row.items()} for row in frame.to_dict("records")]


def to_json(frame: pd.DataFrame) -> str:
    """Strict JSON (no NaN or Infinity tokens, which JSON parsers refuse)."""
    return json.dumps(records(frame), ensure_ascii=False, indent=1, allow_nan=False)


def to_csv(frame: pd.DataFrame) -> str:
    """Lists as JSON arrays, so token lists survive commas, quotes and newlines."""
    rows = [{k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for k, v in r.items()}
            for r in records(frame)]
    return pd.DataFrame(rows, columns=list(frame.columns)).to_csv(index=False)


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list) and any(isinstance(v, list) for v in value):  # a list of token lists: patterns, parts
        text = " | ".join(_tokens(v if isinstance(v, list) else [v]) for v in value)
    elif isinstance(value, list):
        text = _tokens(value)
    elif isinstance(value, str):
        text = "".join(visible_text(c) if c.isspace() else c for c in value)
    else:
        text = str(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _tokens(values: list[Any]) -> str:
    """Tokens with their whitespace made visible, a gap of a pattern (None) as `*`, no tokens as `-`."""
    return " ".join("*" if v is None else visible_text(str(v)) for v in values) or "-"


def to_table(frame: pd.DataFrame) -> str:
    columns = [c for c in frame.columns if c not in HIDDEN_IN_TABLE]
    if frame.empty:
        return "no neurons found"
    cells = [[_cell(v) for v in row] for row in frame[columns].itertuples(index=False)]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return to_json(frame)
    if fmt == "csv":
        return to_csv(frame).rstrip("\n")
    return to_table(frame)
