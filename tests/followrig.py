"""A rig for ``kb diagnose --follow`` under log rotation (issue 18, F13): a writer appends
numbered lines at a fixed rate while a rotator renames, deletes, replaces or copies and
truncates the file; readers follow it at the same time:

- ``follower``: kb's Follower (frontends.follow) in its own process, writing what it yields to
  a file, so every line can be checked: lost and doubled lines are counted exactly;
- ``kb``: ``kb diagnose --follow --json``, whose summary counts the lines it read and the
  problems (one line in ten matches an entry, each with a pid of its own);
- ``tail``: ``tail -F -n +1`` beside them, the baseline.

The writer holds a lock around each batch and the rotator takes it, so a copytruncate never
lands between a batch's write and its end (as logrotate's own copy-then-truncate window, which
loses lines for every reader, is not what is measured). Rotated copies are shifted and four
kept, as logrotate does with ``rotate 4``: a reader that falls behind by more than one
rotation still finds the copy that holds what it had not read (with a single copy overwritten
every 0.2 s, a reader stalled for longer than that loses it, ``tail -F`` too). Run as a
script for the figures:

    python tests/followrig.py copytruncate --seconds 20 --rate 50000 --every 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("none", "rename", "delete", "copytruncate", "symlink", "partial")
MATCH = ("[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid {n}] AH02565: Certificate and "
         "private key www.example.com:443:0 from /etc/ssl/a.crt and /etc/ssl/a.key do not "
         "match seq={n}\n")
NOISE = ("[Tue Mar 05 10:12:01.123456 2024] [core:notice] [pid {n}] AH00094: Command line: "
         "'/usr/sbin/apache2' seq={n}\n")
FOLLOWER = """
import signal, sys
from pathlib import Path
from frontends.follow import Follower
out = open(sys.argv[2], "wb", buffering=0)
def stop(signum, frame):
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)
for chunk in Follower(Path(sys.argv[1]), from_start=True, notice=lambda text: None).blocks():
    out.write(chunk)
"""


@dataclass
class Result:
    """What was written and what each reader got."""

    mode: str
    written: int
    rotations: int
    follower_lost: int = -1
    follower_doubled: int = -1
    kb_lines: int = -1
    kb_matched: int = -1
    tail_lost: int = -1
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def line(n: int) -> str:
    """Line ``n`` of the writer: one in ten matches an entry."""
    return (MATCH if n % 10 == 0 else NOISE).format(n=n)


class Writer:
    """Appends numbered lines at ``rate`` a second in batches every 10 ms; reopens the file
    when told to (as a server does after rotation)."""

    def __init__(self, path: Path, rate: int, partial: bool = False) -> None:
        self.path = path
        self.rate = rate
        self.partial = partial
        self.lock = threading.Lock()
        self.written = 0
        self.reopen = threading.Event()
        self._stop = threading.Event()
        self._handle = path.open("a", encoding="utf-8")

    def run(self, seconds: float) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            due = int(elapsed * self.rate) - self.written
            with self.lock:
                if self.reopen.is_set():
                    self._handle.close()
                    self._handle = self.path.open("a", encoding="utf-8")
                    self.reopen.clear()
                if due > 0:
                    self._handle.write("".join(line(self.written + i) for i in range(due)))
                    self._handle.flush()
                    self.written += due
            time.sleep(0.01)
        with self.lock:
            if self.partial:  # a last line without its newline
                self._handle.write(line(self.written)[:-1])
                self._handle.flush()
                self.written += 1
            self._handle.close()


KEEP = 4  # rotated copies kept, as logrotate's "rotate 4"


def shift(path: Path) -> Path:
    """What logrotate does before it rotates: error.log.3 -> .4, ..., .1 -> .2 (the oldest
    dropped); the name that is free then, error.log.1."""
    for n in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    return path.with_name(f"{path.name}.1")


def rotate(mode: str, path: Path, writer: Writer, number: int) -> None:
    """One rotation of ``mode``."""
    old = shift(path) if mode in ("rename", "copytruncate") else path.with_name(f"{path.name}.1")
    if mode == "rename":
        os.replace(path, old)
        writer.reopen.set()  # the server reopens its log a little later
    elif mode == "delete":
        with writer.lock:
            path.unlink()
            writer.reopen.set()
    elif mode == "copytruncate":
        with writer.lock:
            shutil.copyfile(path, old)
            os.truncate(path, 0)
    elif mode == "symlink":
        target = path.with_name(f"target-{number}.log")
        with writer.lock:
            target.touch()
            tmp = path.with_name(f".link-{number}")
            tmp.symlink_to(target.name)
            os.replace(tmp, path)
            writer.reopen.set()


def run(mode: str, folder: Path, *, seconds: float = 20.0, rate: int = 50_000,
        every: float = 2.0, readers: tuple[str, ...] = ("follower", "kb", "tail"),
        settle: float = 3.0, warmup: float = 2.0) -> Result:
    """One round: start the readers on an empty file, write and rotate, let the readers catch
    up, stop them, count."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "error.log"
    if mode == "symlink":
        (folder / "target-0.log").touch()
        path.symlink_to("target-0.log")
    else:
        path.touch()
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    outputs = {name: folder / f"{name}.out" for name in readers}
    if "follower" in readers:
        procs["follower"] = subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, str(path), str(outputs["follower"])], env=environ)
    if "kb" in readers:
        with outputs["kb"].open("wb") as out:
            procs["kb"] = subprocess.Popen(
                [sys.executable, "-m", "frontends.cli", "diagnose", "--follow", "--from-start",
                 "--json", str(path)], stdout=out, stderr=subprocess.DEVNULL, env=environ)
    if "tail" in readers and shutil.which("tail"):
        with outputs["tail"].open("wb") as out:
            procs["tail"] = subprocess.Popen(["tail", "-F", "-n", "+1", str(path)], stdout=out,
                                             stderr=subprocess.DEVNULL)
    time.sleep(warmup)  # every reader is up (kb loads its index)
    writer = Writer(path, rate, partial=mode == "partial")
    thread = threading.Thread(target=writer.run, args=(seconds,))
    thread.start()
    rotations = 0
    started = time.monotonic()
    while thread.is_alive():
        time.sleep(min(every, 0.05) if every < 0.05 else every)
        if thread.is_alive() and mode in ("rename", "delete", "copytruncate", "symlink"):
            rotations += 1
            rotate(mode, path, writer, rotations)
        if time.monotonic() - started > seconds + 30:
            break
    thread.join()
    time.sleep(settle)
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    result = Result(mode, writer.written, rotations)
    expected = set(range(writer.written))
    if "follower" in readers:
        seen = _numbers(outputs["follower"].read_bytes())
        result.follower_lost = len(expected - set(seen))
        result.follower_doubled = sum(c - 1 for c in seen.values() if c > 1)
    if "kb" in readers:
        result.kb_lines, result.kb_matched = _kb_counts(outputs["kb"].read_bytes())
    if "tail" in procs:
        result.tail_lost = len(expected - set(_numbers(outputs["tail"].read_bytes())))
    return result


def _numbers(data: bytes) -> Counter[int]:
    found: Counter[int] = Counter()
    for raw in data.split(b"\n"):
        mark = raw.rfind(b"seq=")
        if mark >= 0 and raw[mark + 4 :].isdigit():
            found[int(raw[mark + 4 :])] += 1
    return found


def _kb_counts(data: bytes) -> tuple[int, int]:
    """Lines kb read (its summary) and its last count of the matching entry (live updates
    print a problem again when its count grows)."""
    objects = [json.loads(text) for text in data.decode("utf-8").splitlines() if text.strip()]
    summary = next((o for o in reversed(objects) if o.get("type") == "summary"), None)
    if summary is None:
        return -1, -1
    counts = [int(o["count"]) for o in objects
              if o.get("type") == "problem" and o.get("id") == "key-cert-match"]
    return int(summary["lines"]), max(counts, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="+", choices=MODES)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/kb-followrig"))
    parser.add_argument("--readers", default="follower,kb,tail")
    args = parser.parse_args()
    for mode in args.modes:
        folder = args.folder / f"{mode}-{args.every}"
        shutil.rmtree(folder, ignore_errors=True)
        result = run(mode, folder, seconds=args.seconds, rate=args.rate, every=args.every,
                     readers=tuple(args.readers.split(",")))
        print(json.dumps(result.as_json()), flush=True)


if __name__ == "__main__":
    main()
