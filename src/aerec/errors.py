"""The one exception type for errors a user can cause and fix."""

from __future__ import annotations


class AerecError(Exception):
    """A bad file, bad params or a missing dataset: shown as one line, exit code 2.

    The message says what went wrong, where (file, line, key) and what to do.
    Bugs raise ordinary exceptions instead, so their tracebacks stay visible.
    """
