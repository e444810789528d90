"""The one exception family of kb: every error a caller can expect is a KbError."""

from __future__ import annotations


class KbError(Exception):
    """Root of every error kb raises on purpose."""


class ContentError(KbError):
    """FAQ content cannot be compiled; the message starts with ``file:line:``.

    ``problems`` holds every problem found, not only the first, so a linter can show them all.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownEntryError(KbError, LookupError):
    """No entry has the requested id."""


class QueryError(KbError, ValueError):
    """The query cannot be answered (empty, or refused)."""


class IndexStateError(KbError):
    """The on-disk index cannot be used or written (the caller may fall back to memory)."""


class LogInputError(KbError):
    """A log cannot be read: missing, unreadable, binary, or damaged compressed data."""
