"""The command line: parse, call a recipe, print."""

import sys


def run() -> None:
    """The ``pydistroless`` command. Ctrl-C while the program is still loading (its imports
    take a moment) ends it as Ctrl-C does later: one line, exit status 130."""
    try:
        from pydistroless.cli.main import main
    except KeyboardInterrupt:
        print("pydistroless: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
