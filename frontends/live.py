"""A knowledge base that follows its content on disk, for the long-running frontends.

``kb serve`` and ``kb mcp`` load content once, exactly as the CLI does (``frontends.cli.load``),
then a watcher thread looks at the content files every few seconds. When they change it builds
a new KnowledgeBase beside the old one and swaps it in with one assignment: a request holds
the KnowledgeBase it started with, so the old one serves until the new one is ready. A broken
edit (a ContentError) keeps the old one and is reported in ``warnings`` until a later edit
loads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb import KnowledgeBase

Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(paths: Sequence[Path]) -> Fingerprint:
    """What the content looks like on disk: (path, mtime, size, inode) of every Markdown file
    under ``paths`` (the files ``KnowledgeBase.from_paths`` reads), a missing path as -1s.

    Costs one ``stat`` per file; never reads a file.
    """
    seen: list[tuple[str, int, int, int]] = []
    for root in paths:
        files = sorted(root.rglob("*.md")) if root.is_dir() else [root]
        for path in files:
            try:
                info = path.stat()
            except OSError:
                seen.append((str(path), -1, -1, -1))
                continue
            seen.append((str(path), info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(seen)


@dataclass(frozen=True)
class Snapshot:
    """The knowledge base being served and when it was loaded."""

    kb: KnowledgeBase
    loaded_at: float
    generation: int


class LiveKb:
    """The current KnowledgeBase of some content paths, reloaded when the files change."""

    def __init__(self, kb: KnowledgeBase, paths: Sequence[Path], interval: float = 2.0) -> None:
        self._paths = list(paths)
        self._interval = interval
        self._snapshot = Snapshot(kb, time.time(), 1)
        self._seen = fingerprint(self._paths)
        self._reload_warning = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one reload at a time (watcher and check_now)

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base to answer with now (take it once per request)."""
        return self._snapshot.kb

    @property
    def snapshot(self) -> Snapshot:
        """The knowledge base with its load time and generation (1, 2, ... per reload)."""
        return self._snapshot

    @property
    def paths(self) -> list[Path]:
        """The content paths being followed."""
        return list(self._paths)

    @property
    def warnings(self) -> list[str]:
        """The served knowledge base's own warnings, then a failed reload's, if any."""
        own = list(self._snapshot.kb.warnings)
        return own + ([self._reload_warning] if self._reload_warning else [])

    def check_now(self) -> bool:
        """Reload if the content changed since the last look; True when a new one was swapped
        in. Blocks while building (the watcher thread calls it; so can tests)."""
        with self._lock:
            now = fingerprint(self._paths)
            if now == self._seen:
                return False
            self._seen = now  # an edit during the build changes it again: reloaded next look
            return self._reload()

    def _reload(self) -> bool:
        from kb import KbError, KnowledgeBase

        try:
            # strict: a broken edit raises instead of quietly serving an older index
            kb = KnowledgeBase.from_paths(self._paths, strict=True)
        except (KbError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._reload_warning = (f"content changed but does not load: {first}; "
                                    "still serving the previous content")
            return False
        old = self._snapshot
        self._snapshot = Snapshot(kb, time.time(), old.generation + 1)
        self._reload_warning = ""
        return True

    def start(self) -> None:
        """Start the watcher thread (no-op when the interval is 0)."""
        if self._interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="kb-content-watcher",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread and wait for it (a build in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check_now()
            except OSError as exc:  # a folder vanished mid-walk, a permission change
                self._reload_warning = f"cannot look at the content: {exc}"
