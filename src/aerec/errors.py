"""The one exception type for errors a user can cause and fix."""

from __future__ import annotations

import errno


class AerecError(Exception):
    """A bad file, bad params or a missing dataset: shown as one line, exit code 2.

    The message says what went wrong, where (file, line, key) and what to do.
    Bugs raise ordinary exceptions instead, so their tracebacks stay visible.
    """


# A folder where a file belongs, or a file in the way of a folder, that no
# stage checked for itself: still a path the user gave, so one line too.
WRONG_KIND = (IsADirectoryError, NotADirectoryError, FileExistsError)


def user_message(exc: Exception) -> str:
    """The one line shown for a user error: an AerecError's text, or a path of the wrong kind."""
    if isinstance(exc, AerecError) or not isinstance(exc, OSError):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a folder where a file was expected; give the file's path"
    return (
        f"{exc.filename}: a file stands where a folder was expected (on this path); "
        "give a folder (or a new name) instead"
    )


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` is a write that found no space left (os errno, or polars' and torch's text)."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc)


def disk_full_message(exc: BaseException) -> str:
    """The one line for a full disk: where, and that nothing partial was left."""
    where = getattr(exc, "filename", None)
    place = f" writing {where}" if where else ""
    return (
        f"no space left on the device{place}; outputs are written whole or not at all, so the "
        "previous ones are intact: free some space and run again"
    )
