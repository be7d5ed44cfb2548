"""`--corpus wikipedia-excerpt`: English prose that installs from a registry, beside the stdlib's code.

The 106 Wikipedia articles (about 1M tokens of text once the markup is gone) that gensim ships as test data
(`enwiki-latest-pages-articles1.xml-...-shortened.bz2`), read without importing gensim: only its wheel's file is
used (`pip install --no-deps gensim==4.4.0`, 28 MB; scripts/setup.sh installs it). The wikitext is reduced to its
prose: templates, tables, references, files and categories dropped, links to their shown text, headings kept as
lines. Redirect pages are skipped. Good enough for evidence of what a neuron fires on in prose; not a parser.
"""

from __future__ import annotations

import bz2
import importlib.util
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from n2g.errors import N2GError

WIKIPEDIA_CORPUS = "wikipedia-excerpt"
DUMP = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
INSTALL = "pip install --no-deps gensim==4.4.0"

_INNERMOST_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_INNERMOST_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.S)
_REFS = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_COMMENTS = re.compile(r"<!--.*?-->", re.S)
_FILE_LINKS = re.compile(r"\[\[(?:File|Image|Category|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]",
                         re.I)
_LINKS = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_EXTERNAL = re.compile(r"\[(?:https?|ftp)://[^\s\]]+ ?([^\]]*)\]")
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>")
_EMPHASIS = re.compile(r"'{2,}")
_HEADINGS = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")


def dump_path() -> Path:
    """Where the installed gensim keeps the excerpt (found without importing gensim)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise N2GError(f"corpus {WIKIPEDIA_CORPUS} needs gensim's test data: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / DUMP
    if not path.is_file():
        raise N2GError(f"corpus {WIKIPEDIA_CORPUS}: {path} is missing from the installed gensim: {INSTALL}")
    return path


def plain_text(wikitext: str) -> str:
    """The prose of one article's wikitext."""
    text = _COMMENTS.sub("", wikitext)
    text = _REFS.sub("", text)
    for pattern in (_INNERMOST_TEMPLATE, _INNERMOST_TABLE):  # nested: remove the innermost until none is left
        while True:
            text, count = pattern.subn("", text)
            if not count:
                break
    text = _FILE_LINKS.sub("", text)
    text = _LINKS.sub(r"\1", text)
    text = _EXTERNAL.sub(r"\1", text)
    text = _TAGS.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _HEADINGS.sub(r"\1", text)
    lines = [line.rstrip() for line in text.splitlines() if not line.startswith(("|", "!", "{", "}"))]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def wikipedia_documents() -> Iterator[tuple[str, str]]:
    """(title, prose) of each article, in the dump's order."""
    with bz2.open(dump_path(), "rb") as stream:
        title = ""
        for _, element in ET.iterparse(stream, events=("end",)):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = element.text or ""
            elif tag == "text":
                wikitext = element.text or ""
                if not wikitext.lstrip().upper().startswith("#REDIRECT"):
                    prose = plain_text(wikitext)
                    if prose:
                        yield title, prose
            elif tag == "page":
                element.clear()
