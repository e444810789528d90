"""A log arriving in pieces, plain or gzip, turned back into plain bytes with bounded memory.

Gzip is recognised by its magic bytes (or declared with ``Content-Encoding: gzip``), several
members in a row are read like ``zcat`` reads them, and decompression never produces more
than BLOCK bytes at a time, so a small bomb cannot blow up in memory: the decompressed size
counts against the same limit as the body.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from frontends.httpguard import ApiError

BLOCK = 1 << 20  # bytes handed to the diagnoser at a time, as kb diagnose reads files
GZIP_MAGIC = b"\x1f\x8b"


class LogDecoder:
    """Feed body pieces with ``push``, then ``end``; each yields plain log bytes.

    ``gzip`` None: decide from the first two bytes. Raises ApiError 413 when the plain log
    passes ``limit`` bytes and 422 for damaged or truncated gzip data.
    """

    def __init__(self, limit: int, gzip: bool | None = None) -> None:
        self._limit = limit
        self._gzip = gzip
        self._head = b""  # bytes held until the first two decide plain or gzip
        self._inflate: zlib._Decompress | None = None
        self._total = 0
        self._member_started = False

    def push(self, data: bytes) -> Iterator[bytes]:
        """Plain bytes for a piece of the body."""
        if self._gzip is None:
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return
            self._gzip, data, self._head = self._head.startswith(GZIP_MAGIC), self._head, b""
        yield from self._gunzip(data) if self._gzip else self._count(data)

    def end(self) -> Iterator[bytes]:
        """Whatever is still held, at the end of the body."""
        if self._gzip is None:  # fewer than two bytes in all
            yield from self._count(self._head)
            return
        if self._gzip and self._member_started:
            raise ApiError(422, "the gzip data ends early (truncated file?)")

    def _count(self, data: bytes) -> Iterator[bytes]:
        self._total += len(data)
        if self._total > self._limit:
            raise ApiError(413, f"the log is over the limit of {self._limit} bytes "
                                "(kb serve --max-log)")
        if data:
            yield data

    def _gunzip(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._inflate is None:
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._member_started = True
            try:
                out = self._inflate.decompress(data, BLOCK)
                yield from self._count(out)
                while self._inflate.unconsumed_tail:
                    out = self._inflate.decompress(self._inflate.unconsumed_tail, BLOCK)
                    yield from self._count(out)
            except zlib.error as exc:
                raise ApiError(422, f"damaged gzip data ({exc})") from None
            if not self._inflate.eof:
                return
            data = self._inflate.unused_data  # the next member, as zcat reads them
            self._inflate = None
            self._member_started = False
            data = data.lstrip(b"\x00")  # padding after the last member (some tools add it)
