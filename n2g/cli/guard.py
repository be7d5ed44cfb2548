"""The one guard every command runs under: an error the user can cause prints one line (`PROG: error: ...`) and
exits with status 2, never a traceback; library chatter is kept off the terminal without hiding n2g's own
warnings."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence

import click

from n2g.errors import N2GError, redact

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
# Libraries whose deprecation and progress chatter would bury n2g's own output. Only their warnings are silenced.
NOISY_LIBRARIES = ("transformers", "transformer_lens", "huggingface_hub", "datasets", "torch", "accelerate",
                   "neo4j", "tqdm", "gguf", "pandas", "matplotlib", "ray")


def run_guarded(action: Callable[[], int], prog: str) -> int:
    """Run a command; an `N2GError` (or a missing file, a bad option) becomes one line on stderr and exit 2."""
    quiet_libraries()
    try:
        return action()
    except N2GError as err:
        _say(prog, str(err))
    except click.exceptions.NoSuchOption as err:
        if err.option_name[1:2].isdigit():  # `n2g show -1:5`: a negative number read as an option
            _say(prog, f"bad value {err.option_name!r}...: layers and neurons are never negative (write L:N, e.g. 1:5)")
        else:
            _say(prog, err.format_message())
    except click.ClickException as err:
        _say(prog, err.format_message())
    except FileNotFoundError as err:
        _say(prog, f"file not found: {err.filename}")
    except IsADirectoryError as err:
        _say(prog, f"{err.filename} is a directory, not a file")
    except UnicodeDecodeError as err:
        _say(prog, f"input is not UTF-8 text ({err.reason} at byte {err.start})")
    except OSError as err:  # permissions, a full disk, a file where a directory should be
        where = f": {err.filename}" if err.filename else ""
        _say(prog, f"{err.strerror or err}{where}")
    except RecursionError:
        _say(prog, "input nested too deeply")
    except (KeyboardInterrupt, click.Abort):
        print(f"{prog}: interrupted", file=sys.stderr)
    except Exception as err:  # a bug, not bad input: still one line (N2G_DEBUG=1 shows the traceback), exit 1
        if os.environ.get("N2G_DEBUG"):
            raise
        _say(prog, f"internal error ({type(err).__name__}: {err}); please report it, with N2G_DEBUG=1 for details")
        return EXIT_INTERNAL_ERROR
    return EXIT_USER_ERROR


def _say(prog: str, message: str) -> None:
    line = " ".join(redact(message).split()) or "failed"
    print(f"{prog}: error: {line}", file=sys.stderr)


def run_click(command: click.Command, argv: Sequence[str] | None, prog: str) -> int:
    """Run a click command under the guard: `--help` exits 0; usage errors are one line, exit 2."""
    def action() -> int:
        try:
            result = command.main(args=list(sys.argv[1:] if argv is None else argv), prog_name=prog,
                                  standalone_mode=False)
        except click.exceptions.NoArgsIsHelpError as err:
            print(err.ctx.get_help() if err.ctx else err.format_message(), file=sys.stderr)
            return EXIT_USER_ERROR
        except click.exceptions.Exit as done:
            return int(done.exit_code)
        return int(result) if isinstance(result, int) else 0

    return run_guarded(action, prog)


def quiet_libraries() -> None:
    """Keep libraries' deprecations, info logs and per-tensor progress bars off the terminal."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    for library in NOISY_LIBRARIES:
        warnings.filterwarnings("ignore", module=rf"{library}(\.|$)")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for library in NOISY_LIBRARIES:
        logging.getLogger(library).setLevel(logging.CRITICAL if library == "neo4j" else logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
