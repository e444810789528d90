"""A bounded memo for the log pipe's pure functions of a line's text (its message's template,
its role, its answer).

In a log the same message comes back under ever new times, pids and clients, but often far
apart: a host name's handshake error every few thousand lines. A memo that forgets everything
when it is full keeps, on average, only half of what it could; a least-recently-used one keeps
the most but reorders on every hit. ``Recent`` keeps two generations: the current one takes new
keys, and a key found in the previous one moves up; when the current one is full it becomes the
previous one, and the one before is dropped. A hit is one or two dict probes, any key used
within the last ``size // 2`` insertions is kept, and at most ``size`` are.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

# Texts longer than this are not remembered: the memos are bounded in bytes, not only in
# keys (16,384 distinct 8 KB messages were 240 MB), and a long message rarely comes back.
MAX_TEXT = 512

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most ``size`` keys, the recently used ones (values are never None)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._half = max(1, size // 2)
        self._new: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        """The value remembered for ``key``, or None."""
        value = self._new.get(key)
        if value is None:
            value = self._old.get(key)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``."""
        if len(self._new) >= self._half:
            self._old, self._new = self._new, {}
        self._new[key] = value

    def clear(self) -> None:
        """Forget everything."""
        self._new, self._old = {}, {}

    def __len__(self) -> int:
        return len(self._new) + len(self._old.keys() - self._new.keys())
