"""User-facing errors, and the redaction every printed message passes through.

Anything the user can cause (a bad spec, a missing file, an unreachable hub) raises `N2GError`; the command-line
entry points print its message as one line and exit with status 2. Messages may quote an address the user gave:
`redact` removes a URL's credentials (userinfo) and its query and fragment, for every scheme, before anything is
printed.
"""

from __future__ import annotations

import re

# scheme ":" then one or more slashes, then the rest of a whitespace/quote-delimited token
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*:/+)(?P<rest>[^\s'\"<>`]*)")


class N2GError(Exception):
    """An error the user can fix; its message is the whole explanation."""


def redact_url(url: str) -> str:
    """`bolt+routing://u:secret@host:7687/db?x=1` -> `bolt+routing://***@host:7687/db`."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        return url
    return match["scheme"] + _redact_rest(match["rest"])


def _redact_rest(rest: str) -> str:
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return authority + slash + path


def redact(text: str) -> str:
    """`text` with every URL in it redacted (`redact_url`)."""
    return _URL.sub(lambda m: m["scheme"] + _redact_rest(m["rest"]), text)
