"""Templates: well-formed headers, parameters declared exactly as used, valid Neo4j Cypher (Neo4j's own linter).
That every template gives the same rows on a real Neo4j server as on LadybugDB is the integration tier's
(tests/integration/neo4j/test_engine_equivalence.py)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ingest.store import statement_parameters
from n2g.errors import N2GError
from queries.templates import ENGINES, TEMPLATE_DIR, parse_template, template, templates
from tests.cypher_lint import lint_cypher

EXPECTED = {"activating_token", "context_token", "activating_tokens", "context_tokens", "activating_with_context",
            "activating_with_context_token", "neuron_rows", "repeated_token", "duplicates_similar",
            "duplicates_subset", "similar_to", "neuron", "neuron_graph", "best_in_layer", "layers", "models",
            "token_texts", "text_candidates", "text_roots", "text_neurons", "polysemantic",
            "activation_samples", "root_patterns"}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_template_declares_exactly_the_parameters_it_uses(engine: str) -> None:
    found = templates(engine)
    assert set(found) == EXPECTED
    for chosen in found.values():
        assert chosen.description and "\n" not in chosen.description
        assert {p.name for p in chosen.params} == statement_parameters(chosen.text), chosen.name
        assert "//" not in chosen.text  # the header is not sent


def test_neo4j_variants_pass_neo4js_linter() -> None:
    queries = [(t.name, t.text, [p.name for p in t.params]) for t in templates("neo4j").values()]
    errors = lint_cypher(queries)
    assert {name: e for name, e in errors.items() if e} == {}


HEADER = re.compile(r"// (name|description|note|param (\w+)): ?(.*)")
PARAM_TYPES = {"STRING", "INT", "FLOAT", "BOOL", "LIST<STRING>", "LIST<INT>", "LIST<FLOAT>", "LIST<MAP>"}


def read_file(path: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """Independently of `queries.templates`: a file's header fields, its parameters (name -> type) and statement."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("//"), lines))
    fields: dict[str, str] = {}
    params: dict[str, str] = {}
    for line in header:
        match = HEADER.fullmatch(line)
        assert match, f"{path.name}: header line not understood: {line!r}"
        key, param, value = match.groups()
        if param:
            kind, sep, meaning = value.partition("  ")
            assert kind in PARAM_TYPES and sep and meaning.strip(), f"{path.name}: ${param} needs a type and meaning"
            assert param not in params, f"{path.name}: ${param} declared twice"
            params[param] = kind
        elif key != "note":
            assert key not in fields, f"{path.name}: two `// {key}:` lines"
            fields[key] = value
    return fields, params, "\n".join(lines[len(header):])


@pytest.mark.parametrize("path", sorted(TEMPLATE_DIR.glob("*.cypher")), ids=lambda path: path.name)
def test_each_file_declares_the_parameters_its_statement_uses(path: Path) -> None:
    fields, params, statement = read_file(path)
    query, *engine = path.name.removesuffix(".cypher").split(".")
    assert fields.keys() == {"name", "description"} and fields["name"] == query and fields["description"]
    assert set(params) == set(re.findall(r"\$([A-Za-z_]\w*)", statement)), path.name
    assert statement.strip() and "//" not in statement
    if engine:  # an engine's variant stands in for the shared file: same name, same parameters, same types
        assert engine[0] in ENGINES
        assert read_file(TEMPLATE_DIR / f"{query}.cypher")[1] == params, path.name
        assert template(engine[0], query).path == path
    else:
        assert query in EXPECTED
        parsed = parse_template(path)
        assert (parsed.name, parsed.description) == (fields["name"], fields["description"])
        assert {p.name: p.type for p in parsed.params} == params


def test_one_shared_file_per_query() -> None:
    assert sorted(p.stem for p in TEMPLATE_DIR.glob("*.cypher") if "." not in p.stem) == sorted(EXPECTED)


def test_binding_checks_presence_and_types() -> None:
    chosen = template("ladybug", "neuron")
    assert chosen.bind({"id": "m:0:1"}) == {"id": "m:0:1"}
    with pytest.raises(N2GError, match="missing"):
        chosen.bind({})
    with pytest.raises(N2GError, match="unknown"):
        chosen.bind({"id": "x", "other": 1})
    with pytest.raises(N2GError, match="must be STRING"):
        chosen.bind({"id": 3})
