"""`import n2g`: cheap (no torch), and every public name resolves to the object its module defines."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import n2g

ROOT = Path(__file__).resolve().parents[2]


def test_import_is_cheap() -> None:
    code = ("import sys, json, n2g; n2g.__version__; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'transformer_lens', 'pandas', 'numpy', 'ingest', 'queries') "
            "or m.startswith('n2g.'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_every_public_name_resolves() -> None:
    assert sorted(n2g.__all__) == sorted(n2g._EXPORTS) and len(set(n2g.__all__)) == len(n2g.__all__)
    for name in n2g.__all__:
        value = getattr(n2g, name)
        module = importlib.import_module(n2g._EXPORTS[name])
        assert value is getattr(module, name) and value.__module__ == module.__name__, name
    namespace: dict[str, object] = {}
    exec("from n2g import *", namespace)
    assert set(n2g.__all__) <= set(namespace)
    assert set(n2g.__all__) <= set(dir(n2g))


def test_fit_is_the_subpackage_and_fitting_is_fit_graphs() -> None:
    import n2g.fit.run

    assert n2g.fit is sys.modules["n2g.fit"] and "fit" not in n2g.__all__
    assert n2g.fit_graphs is n2g.fit.run.fit_graphs


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        n2g.nothing_here  # noqa: B018


def test_version_is_written_once() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "n2g.__version__"}
    assert n2g.__version__.count(".") == 2
