"""Cypher templates: one `.cypher` file per query in `queries/templates/`, read by both engines.

A file starts with a header of `//` lines:

    // name: activating_token
    // description: one line saying what the query returns
    // param tokens: LIST<MAP>  what the value means

and the statement follows. Shared files stay inside the Cypher subset both LadybugDB and Neo4j run
(`graph-stores.md`); where a dialect forces a difference, `NAME.neo4j.cypher` or `NAME.ladybug.cypher` beside the
shared file replaces it for that engine. Values reach a template only as parameters, each checked against its
declared type, and every declared parameter must be given (LadybugDB reads a missing one as NULL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from n2g.errors import N2GError

TEMPLATE_DIR = Path(__file__).parent / "templates"
ENGINES = ("ladybug", "neo4j")
_CHECKS = {
    "STRING": lambda v: isinstance(v, str),
    "INT": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "FLOAT": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "BOOL": lambda v: isinstance(v, bool),
    "LIST<STRING>": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "LIST<INT>": lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
    "LIST<FLOAT>": lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                         for x in v),
    "LIST<MAP>": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    params: tuple[Param, ...]
    text: str  # the statement, header removed
    path: Path

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters to send: every declared one present and of its type, nothing undeclared."""
        declared = {p.name: p for p in self.params}
        missing = sorted(set(declared) - set(values))
        extra = sorted(set(values) - set(declared))
        if missing or extra:
            raise N2GError(f"template {self.name}: missing parameters {missing}, unknown parameters {extra}")
        for name, value in values.items():
            kind = declared[name].type
            if not _CHECKS[kind](value):
                raise N2GError(f"template {self.name}: parameter ${name} must be {kind}, got {type(value).__name__}")
        return dict(values)


def parse_template(path: Path) -> Template:
    header: dict[str, str] = {}
    params: list[Param] = []
    body: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not body and line.startswith("//"):
            key, _, value = line[2:].strip().partition(":")
            if key.startswith("param "):
                kind, _, description = value.strip().partition("  ")
                if kind not in _CHECKS:
                    raise ValueError(f"{path}: unknown parameter type {kind!r}")
                params.append(Param(key[len("param "):].strip(), kind, description.strip()))
            else:
                header[key.strip()] = value.strip()
        elif line.strip() or body:
            body.append(line)
    if "name" not in header or "description" not in header:
        raise ValueError(f"{path}: the header needs `// name:` and `// description:`")
    return Template(header["name"], header["description"], tuple(params), "\n".join(body).strip(), path)


@cache
def templates(engine: str) -> dict[str, Template]:
    """Every template, with the engine's variant where one exists."""
    if engine not in ENGINES:
        raise N2GError(f"no templates for engine {engine!r}")
    shared = [p for p in sorted(TEMPLATE_DIR.glob("*.cypher")) if p.name.count(".") == 1]
    variants = sorted(TEMPLATE_DIR.glob(f"*.{engine}.cypher"))
    found: dict[str, Template] = {}
    for path in (*shared, *variants):  # a variant replaces the shared file of its name
        template = parse_template(path)
        found[template.name] = template
    return found

def template(engine: str, name: str) -> Template:
    return templates(engine)[name]
