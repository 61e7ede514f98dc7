"""The `aerec` command line: one subcommand per pipeline stage.

Heavy libraries (torch, great_expectations) are imported inside the commands
that need them, so `aerec --help` stays fast. Errors a user can cause
(AerecError) end in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from aerec.errors import AerecError

app = typer.Typer(
    name="aerec",
    help="Autoencoder-based collaborative filtering: ingest, validate, build, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point: run the app, turning AerecError into one line."""
    try:
        app()
    except AerecError as exc:
        print(f"aerec: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("aerec: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
