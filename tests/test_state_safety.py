"""State safety (issue 7): the index cache never turns a good question into a failure.

Concurrent builds, a build killed with SIGKILL, a read-only / missing / full cache, corrupted
cache files and broken content after a good build: each next run answers correctly, with at
most one ``kb: warning:`` line.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from frontends.cli import Env, main
from kb import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
QUERY = "KBSIG00007 widget failure"


def _generate(folder: Path, n: int) -> Path:
    """A content folder of ``n`` entries; entry i has the signature 'KBSIG<i> widget failure'."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = ["# Generated\n"]
    for i in range(n):
        body = f"Restart widget {i}; check cable {i % 17} and lamp {i % 7}. " * 3
        parts.append(
            f"\n## Why does widget {i} fail with code KBSIG{i:05d}?\n\n{body}\n\n```kb\n"
            f"id: widget-{i}\ntags: widget, t{i % 13}\n"
            f"signatures:\n- KBSIG{i:05d} widget failure\n```\n"
        )
    (folder / "faq.md").write_text("".join(parts), encoding="utf-8")
    return folder


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return _generate(tmp_path / "content", 20)


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]},
              stdout_isatty=False, stdin_isatty=False)
    code = main(argv, env)
    return int(code), env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def _search(folder: Path, query: str = QUERY) -> tuple[int, str, str]:
    return _run(["search", "--no-default", "--kb", str(folder), "-n", "1", query])


def assert_answers(result: tuple[int, str, str], *, warnings: int = 0,
                   entry: str = "widget-7") -> None:
    """Exit 0, the right entry first, and exactly ``warnings`` 'kb: warning:' lines on stderr."""
    code, out, err = result
    assert code == 0, err
    assert f"id: {entry} " in out.splitlines()[1]
    lines = err.splitlines()
    assert len(lines) == warnings, err
    assert all(line.startswith("kb: warning: ") for line in lines), err


def _indexes(cache: Path) -> list[Path]:
    return sorted(cache.glob("idx-*")) if cache.is_dir() else []


def _subprocess_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "KB_CACHE_DIR": str(cache), "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


KB = [sys.executable, "-m", "frontends.cli"]

# -- concurrency and crashes -----------------------------------------------------------------


def test_concurrent_builds_all_answer(tmp_path: Path, cache_dir: Path) -> None:
    folder = _generate(tmp_path / "content", 1500)
    argv = [*KB, "search", "--no-default", "--kb", str(folder), "-n", "1", QUERY]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_subprocess_env(cache_dir), cwd=tmp_path) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert_answers((proc.returncode, out, err))
    assert len(_indexes(cache_dir)) == 1
    assert not list(cache_dir.glob("tmp-*"))  # the losers removed their own builds
    assert_answers(_search(folder))


def test_sigkill_during_a_build(tmp_path: Path, cache_dir: Path) -> None:
    folder = _generate(tmp_path / "content", 3000)
    proc = subprocess.Popen([*KB, "build", str(folder)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_subprocess_env(cache_dir), cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not list(cache_dir.glob("tmp-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.005)
    time.sleep(0.1)  # well inside whoosh's writing
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the build finished before the kill"
    assert not _indexes(cache_dir)  # nothing half-built was put in place
    leftovers = list(cache_dir.glob("tmp-*"))
    assert leftovers  # fine: pruned once older than an hour
    assert_answers(_search(folder))
    assert len(_indexes(cache_dir)) == 1
    for old in leftovers:  # a later build prunes leftovers older than an hour
        os.utime(old, (time.time() - 7200, time.time() - 7200))
    (folder / "faq.md").write_text((folder / "faq.md").read_text() + "\n", encoding="utf-8")
    assert_answers(_search(folder))
    assert not any(p.exists() for p in leftovers)


# -- cache directory problems ----------------------------------------------------------------


def test_missing_nested_cache_directory(content: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "does" / "not" / "exist" / "yet"
    monkeypatch.setenv("KB_CACHE_DIR", str(cache))
    assert_answers(_search(content))
    assert len(_indexes(cache)) == 1
    assert_answers(_search(content))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores directory permissions (the simulated cases cover it)")
def test_read_only_cache_directory(content: Path, cache_dir: Path) -> None:
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        assert_answers(_search(content), warnings=1)
        assert_answers(_search(content), warnings=1)
    finally:
        cache_dir.chmod(0o700)


def _raise(number: int) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise OSError(number, os.strerror(number))

    return fail


@pytest.mark.parametrize("where", ["cache-is-a-file", "cache-under-a-file", "mkdtemp-erofs",
                                   "rename-erofs"])
def test_unwritable_cache(where: str, content: Path, cache_dir: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "cache-is-a-file":
        cache_dir.write_text("not a directory", encoding="utf-8")
    elif where == "cache-under-a-file":
        cache_dir.write_text("not a directory", encoding="utf-8")
        monkeypatch.setenv("KB_CACHE_DIR", str(cache_dir / "kb" / "cache"))
    elif where == "mkdtemp-erofs":
        monkeypatch.setattr("tempfile.mkdtemp", _raise(errno.EROFS))
    else:
        monkeypatch.setattr("os.rename", _raise(errno.EROFS))
    result = _search(content)
    assert_answers(result, warnings=1)
    assert "using an in-memory index" in result[2]
    if cache_dir.is_dir():
        assert not _indexes(cache_dir) and not list(cache_dir.glob("tmp-*"))


@pytest.mark.parametrize("where", ["postings.bin", "entries.bin", "index.bin", "kb-complete"])
def test_full_disk(where: str, content: Path, cache_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.cache

    real = kb.cache._create_private

    def full(path: Path) -> int:  # every file of the cache is created through it, 0600
        if path.name == where:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path)

    with monkeypatch.context() as patch:
        patch.setattr(kb.cache, "_create_private", full)
        result = _search(content)
    assert_answers(result, warnings=1)
    assert result[2] == ("kb: warning: index cache not usable (No space left on device); "
                         "using an in-memory index\n")
    assert not _indexes(cache_dir) and not list(cache_dir.glob("tmp-*"))
    assert_answers(_search(content))  # space again: the next run caches normally
    assert len(_indexes(cache_dir)) == 1


# -- corrupted cache files -------------------------------------------------------------------


def _built(content: Path, cache: Path) -> Path:
    assert_answers(_search(content))
    (index,) = _indexes(cache)
    return index


def _postings(index: Path) -> Path:
    return index / "postings.bin"


def _garble(path: Path, start: int = 0, end: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    for i in range(start, len(data) if end is None else end):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


CORRUPTIONS: dict[str, Callable[[Path], object]] = {
    "postings-truncated": lambda ix: os.truncate(_postings(ix), _postings(ix).stat().st_size // 2),
    "postings-empty": lambda ix: os.truncate(_postings(ix), 0),
    "postings-deleted": lambda ix: _postings(ix).unlink(),
    "postings-garbled": lambda ix: _garble(_postings(ix)),
    "postings-one-byte-flipped": lambda ix: _flip_middle_byte(_postings(ix)),
    "core-not-marshal": lambda ix: (ix / "index.bin").write_bytes(b"\x00\xff" * 500),
    "core-one-byte-flipped": lambda ix: _flip_middle_byte(ix / "index.bin"),
    "core-deleted": lambda ix: (ix / "index.bin").unlink(),
    "entries-truncated": lambda ix: os.truncate(ix / "entries.bin", 100),
    "entries-garbage": lambda ix: (ix / "entries.bin").write_bytes(b"\x00\xff" * 500),
    "entries-one-byte-flipped": lambda ix: _flip_middle_byte(ix / "entries.bin"),
    "entries-empty": lambda ix: (ix / "entries.bin").write_text(""),
    "entries-deleted": lambda ix: (ix / "entries.bin").unlink(),
    "stamp-deleted": lambda ix: (ix / "kb-complete").unlink(),
    "stamp-garbled": lambda ix: _flip_middle_byte(ix / "kb-complete"),
    "stamp-not-json": lambda ix: (ix / "kb-complete").write_text("x\ny\n"),
    "index-is-a-file": lambda ix: _replace_with_file(ix),
}


def _flip_middle_byte(path: Path) -> None:
    middle = path.stat().st_size // 2
    _garble(path, middle, middle + 1)


def _replace_with_file(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
    path.write_text("x", encoding="utf-8")


def _foreign(name: str) -> Callable[[Path], None]:
    """A valid file of another build (other content) in place of this one's."""

    def put(ix: Path) -> None:
        other = ix.parent.parent / "other"
        KnowledgeBase.from_paths([_generate(other / "content", 21)], cache_dir=other / "cache")
        (source,) = (other / "cache").glob("idx-*")
        (ix / name).write_bytes((source / name).read_bytes())

    return put


def _touch(ix: Path) -> None:
    """Files rewritten with their own bytes (new stats, same content): still good."""
    for path in ix.iterdir():
        path.write_bytes(path.read_bytes())


CORRUPTIONS.update({f"{name}-from-another-build": _foreign(name)
                    for name in ("index.bin", "postings.bin", "entries.bin", "kb-complete")})
CORRUPTIONS["all-rewritten-unchanged"] = _touch


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_corrupted_cache_is_rebuilt(damage: str, content: Path, cache_dir: Path) -> None:
    CORRUPTIONS[damage](_built(content, cache_dir))
    assert_answers(_search(content))
    assert_answers(_search(content))
    assert len([p for p in _indexes(cache_dir) if p.is_dir()]) == 1


# -- broken content after a good build -------------------------------------------------------


BROKEN = "\n## Why is this entry broken?\n\nIt is.\n\n```kb\nidd: nope\n```\n"


def test_broken_content_falls_back_to_the_last_good_index(content: Path,
                                                          cache_dir: Path) -> None:
    assert_answers(_search(content))
    page = content / "faq.md"
    page.write_text(page.read_text(encoding="utf-8") + BROKEN, encoding="utf-8")
    broken_line = page.read_text(encoding="utf-8").splitlines().index("idd: nope") + 1
    where = f"{page}:{broken_line}: unknown metadata key 'idd'"

    code, out, err = result = _search(content)
    assert_answers(result, warnings=1)
    assert err.startswith(f"kb: warning: {where}") and err.endswith("using the last good index\n")

    code, out, err = _run(["diagnose", "--no-default", "--kb", str(content)],
                          f"[Tue Mar 05 10:12:01 2024] [ssl:error] [pid 1] {QUERY}\n")
    assert code == 1 and "widget-7" in out and err.count("kb: warning: ") == 1

    code, out, err = _run(["lint", str(content)])
    assert code == 1 and out.startswith(where) and err == "kb: 1 problem(s)\n"

    code, out, err = _run(["build", str(content)])
    assert code == 3 and out == "" and err.startswith(f"kb: error: {where}")
    assert len(err.splitlines()) == 1

    page.write_text(page.read_text(encoding="utf-8").replace(BROKEN, ""), encoding="utf-8")
    assert_answers(_search(content))  # fixed again: no warning


def test_broken_content_without_a_good_index_is_a_content_error(content: Path,
                                                                cache_dir: Path) -> None:
    page = content / "faq.md"
    page.write_text(page.read_text(encoding="utf-8") + BROKEN, encoding="utf-8")
    code, out, err = _search(content)
    assert code == 3 and out == ""
    assert err.startswith(f"kb: error: {page}:") and "unknown metadata key 'idd'" in err


def test_broken_content_with_a_damaged_last_good_index(content: Path, cache_dir: Path) -> None:
    index = _built(content, cache_dir)
    (index / "entries.bin").write_text("garbage", encoding="utf-8")
    page = content / "faq.md"
    page.write_text(page.read_text(encoding="utf-8") + BROKEN, encoding="utf-8")
    code, out, err = _search(content)
    assert code == 3 and "unknown metadata key 'idd'" in err and "Traceback" not in err
