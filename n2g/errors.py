"""User-facing errors.

Anything the user can cause (a bad spec, a missing file, an unreachable hub) raises `N2GError`;
the command-line entry points print its message as one line and exit with status 2.
"""


class N2GError(Exception):
    """An error the user can fix; its message is the whole explanation."""
