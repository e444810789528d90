"""Adversarial round 2 (issue 18), cache and content state: F15-F19 of
../shared/reviews/reliability-review.md against the index cache of format 6 (kb/cache.py).

Root ignores file permissions, and the suite runs as root in CI: unreadable files and folders
are simulated where the OS call is made (the message and the fallback are what is tested);
where the tests run as another user, the real chmod cases run too.
"""

from __future__ import annotations

import errno
import io
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from frontends.cli import Env, main
from kb import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "frontends.cli"]
QUERY = "KBSIG00007 widget failure"
POSIX = os.name == "posix"


def generate(folder: Path, n: int = 20, word: str = "Restart") -> Path:
    """A content folder of ``n`` entries; entry i has the signature 'KBSIG<i> widget failure'
    and an answer that starts with ``word``."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = ["# Generated\n"]
    for i in range(n):
        parts.append(f"\n## Why does widget {i} fail with code KBSIG{i:05d}?\n\n{word} widget "
                     f"{i}; check cable {i % 17}.\n\n```kb\nid: widget-{i}\nsignatures:\n"
                     f"- KBSIG{i:05d} widget failure\n```\n")
    (folder / "faq.md").write_text("".join(parts), encoding="utf-8")
    return folder


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return generate(tmp_path / "content")


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]},
              stdout_isatty=False, stdin_isatty=False)
    code = main(list(argv), env)
    return int(code), env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def search(folder: Path) -> tuple[int, str, str]:
    return run("search", "--no-default", "--kb", str(folder), "-n", "1", QUERY)


def answers(result: tuple[int, str, str], warnings: int = 0) -> str:
    """Exit 0, widget-7 first, exactly ``warnings`` warning lines; the warnings."""
    code, out, err = result
    assert code == 0, err
    assert "id: widget-7 " in out.splitlines()[1], out
    lines = err.splitlines()
    assert len(lines) == warnings and all(x.startswith("kb: warning: ") for x in lines), err
    return err


def index_dir(cache: Path) -> Path:
    (found,) = [p for p in cache.glob("idx-*") if p.is_dir()]
    return found


def limited() -> None:
    """A child process that cannot take the machine's memory (a link to /dev/zero did)."""
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def subprocess_search(folder: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KB_CACHE_DIR": str(cache), "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([*KB, "search", "--no-default", "--kb", str(folder), "-n", "1", QUERY],
                          capture_output=True, text=True, env=env, timeout=60,
                          preexec_fn=limited if POSIX else None, check=False)  # noqa: PLW1509


# -- F15: cache files that are not regular files -----------------------------------------------


@pytest.mark.skipif(not POSIX, reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("name", ["postings.bin", "entries.bin", "index.bin", "kb-complete"])
@pytest.mark.parametrize("what", ["fifo", "dev-zero"])
def test_f15_a_cache_file_that_is_a_fifo_or_dev_zero(name: str, what: str, content: Path,
                                                     cache_dir: Path) -> None:
    answers(search(content))
    target = index_dir(cache_dir) / name
    target.unlink()
    if what == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    for _ in range(2):  # refused (no hang, no memory), rebuilt, and the next run is normal
        done = subprocess_search(content, cache_dir)
        assert done.returncode == 0, done.stderr
        assert "id: widget-7 " in done.stdout and done.stderr == ""
    assert stat.S_ISREG(os.lstat(index_dir(cache_dir) / name).st_mode)


def test_f15_an_oversized_stamp_is_no_stamp(content: Path, cache_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.cache

    answers(search(content))
    stamp = index_dir(cache_dir) / kb.cache.STAMP_FILE
    assert stamp.stat().st_size < 50_000
    monkeypatch.setattr(kb.cache, "MAX_STAMP_BYTES", 50_000)
    stamp.write_bytes(b"{" * 60_000)
    assert kb.cache._read_stamp(stamp.parent) is None
    answers(search(content))  # rebuilt
    answers(search(content))


# -- F16: an index directory that cannot be read ----------------------------------------------


def _blocked(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make looking into ``folder`` fail as for a directory left 0700 by root (``sudo kb``):
    every stat, open and listing under it is EACCES."""
    import kb.cache

    def inside(path: Any) -> bool:
        return str(path).startswith(str(folder) + os.sep)

    def denied(path: Any) -> OSError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    real_is_file, real_open = Path.is_file, kb.cache._open_regular

    def is_file(self: Path) -> bool:
        if inside(self):
            raise denied(self)
        return real_is_file(self)

    def open_regular(path: Path) -> int:
        if inside(path):
            raise denied(path)
        return real_open(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(kb.cache, "_open_regular", open_regular)


def test_f16_an_unreadable_index_dir_does_not_end_every_command(content: Path, cache_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    answers(search(content))
    blocked = index_dir(cache_dir)
    with monkeypatch.context() as patch:
        _blocked(blocked, patch)
        for _ in range(2):
            code, out, err = search(content)
            assert code == 0 and "id: widget-7 " in out, err
            assert "Permission denied" not in err
    answers(search(content))


@pytest.mark.skipif(not POSIX or os.geteuid() == 0, reason="root reads a 0000 directory")
def test_f16_a_real_0000_index_dir(content: Path, cache_dir: Path) -> None:
    answers(search(content))
    blocked = index_dir(cache_dir)
    blocked.chmod(0)
    try:
        for _ in range(2):
            code, out, err = search(content)
            assert code == 0 and "id: widget-7 " in out, err
    finally:
        blocked.chmod(0o700)


# -- F17: a cache directory that others can write to, or that is not ours ----------------------


def _plant(content: Path, cache: Path, tmp_path: Path) -> None:
    """What another local user can do in a cache directory they may write to: put there, under
    the name and stamp kb looks for, the index of other content (here answers that start with
    'PLANTED')."""
    import kb.cache

    victim = index_dir(cache)
    other_content = generate(tmp_path / "other-content", word="PLANTED")
    other_cache = tmp_path / "other-cache"
    KnowledgeBase.from_paths([other_content], cache_dir=other_cache)
    source = index_dir(other_cache)
    stamp = kb.cache._read_stamp(victim)
    assert stamp is not None
    for name in kb.cache.FILES:
        shutil.copyfile(source / name, victim / name)
    planted = kb.cache._read_stamp(source)
    assert planted is not None
    body = dict(stamp, files=planted["files"], seen={})
    (victim / kb.cache.STAMP_FILE).unlink()
    kb.cache._write_stamp(victim / kb.cache.STAMP_FILE, body)


@pytest.mark.skipif(not POSIX, reason="POSIX owners and modes")
def test_f17_planted_index_works_when_the_cache_is_private(content: Path, cache_dir: Path,
                                                           tmp_path: Path) -> None:
    """The attack itself: a planted index is used when kb trusts the directory (this test
    shows the plant is real, so the next one can fail)."""
    answers(search(content))
    _plant(content, cache_dir, tmp_path)
    code, out, _ = search(content)
    assert code == 0 and "PLANTED" in out


@pytest.mark.skipif(not POSIX, reason="POSIX owners and modes")
@pytest.mark.parametrize("how", ["mode-1777", "mode-0775", "owned-by-another-user"])
def test_f17_a_shared_or_foreign_cache_dir_is_refused(how: str, content: Path, cache_dir: Path,
                                                      tmp_path: Path) -> None:
    answers(search(content))
    _plant(content, cache_dir, tmp_path)
    if how == "mode-1777":
        cache_dir.chmod(0o1777)
    elif how == "mode-0775":
        cache_dir.chmod(0o775)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        os.chown(cache_dir, 65534, 65534)
    for _ in range(2):
        err = answers(search(content), warnings=1)
        assert f"cache directory {cache_dir} not used: " in err
        assert err.rstrip().endswith("using an in-memory index")
        assert "PLANTED" not in search(content)[1]
    # Several collections: still one warning.
    code, _, err = run("--kb", str(content), "search", QUERY)
    assert code == 0 and err.count("kb: warning:") == 1, err


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_f17_cache_dirs_0700_and_files_0600(content: Path, cache_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        answers(search(content))
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    folder = index_dir(cache_dir)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


# -- F18: content rewritten while it is compiled -------------------------------------------------


def test_f18_a_file_rewritten_during_a_build_is_not_cached_under_the_old_key(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.compiler

    folder = tmp_path / "race"
    folder.mkdir()
    page = folder / "z.md"
    version = "## What version is this?\n\nVERSION {}\n\n```kb\nid: version\n```\n"
    page.write_text(version.format("A"), encoding="utf-8")
    real = kb.compiler.compile_paths
    calls: list[int] = []

    def rewritten_first(*args: Any, **kwargs: Any) -> Any:
        if not calls:  # after the key was hashed, before the compiler reads the file
            page.write_text(version.format("B"), encoding="utf-8")
        calls.append(1)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(kb.compiler, "compile_paths", rewritten_first)
        code, out, err = run("--no-default", "--kb", str(folder), "show", "version")
    assert code == 0 and "VERSION B" in out, err
    page.write_text(version.format("A"), encoding="utf-8")  # restored
    code, out, err = run("--no-default", "--kb", str(folder), "show", "version")
    assert code == 0 and "VERSION A" in out and "VERSION B" not in out, err


# -- F19: content that cannot be read ---------------------------------------------------------


def _unreadable_file(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 (new ctime: kb looks again), and reading it fails as it would for a user."""
    page.chmod(0)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == page:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def test_f19_an_unreadable_file_keeps_the_last_good_index(content: Path, cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    answers(search(content))
    page = content / "faq.md"
    with monkeypatch.context() as patch:
        _unreadable_file(page, patch)
        err = answers(search(content), warnings=1)
        assert err == (f"kb: warning: {page}:0: cannot read file: Permission denied; using the "
                       "last good index\n")
    page.chmod(0o644)


def test_f19_an_unreadable_file_without_a_good_index_is_a_content_error(
        content: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = content / "faq.md"
    with monkeypatch.context() as patch:
        _unreadable_file(page, patch)
        code, _, err = search(content)
    page.chmod(0o644)
    assert code == 3 and f"{page}:0: cannot read file: Permission denied" in err


def _unreadable_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(folder):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_f19_an_unreadable_subfolder_is_reported(content: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sub = content / "sub"
    generate(sub, n=3)
    (sub / "faq.md").write_text((sub / "faq.md").read_text(encoding="utf-8").replace(
        "widget-", "sub-widget-"), encoding="utf-8")
    answers(search(content))
    with monkeypatch.context() as patch:
        _unreadable_folder(sub, patch)
        code, out, _ = run("lint", str(content))
        assert code == 1 and f"{sub}:0: cannot read folder: Permission denied" in out
        sub.touch()  # (what a chmod does to the folder's stats)
        err = answers(search(content), warnings=1)
        assert f"{sub}:0: cannot read folder: Permission denied" in err
        assert err.rstrip().endswith("using the last good index")


@pytest.mark.skipif(not POSIX or os.geteuid() == 0, reason="root reads a 0000 file")
def test_f19_real_chmod_000(content: Path, cache_dir: Path) -> None:
    answers(search(content))
    page = content / "faq.md"
    page.chmod(0)
    try:
        answers(search(content), warnings=1)
    finally:
        page.chmod(0o644)


# -- the same as another user, for real (root ignores permissions; nobody does not) ----------

SITE = next((str(p) for p in (ROOT / ".venv" / "lib").glob("python3*/site-packages")), "")
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _nobody_can_run_kb() -> bool:
    """Root with setpriv and a system Python 3.11 that user nobody may run kb with."""
    if not POSIX or os.geteuid() != 0 or not shutil.which("setpriv") or not SITE:
        return False
    if not Path("/usr/bin/python3.11").exists() or sys.version_info[:2] != (3, 11):
        return False
    probe = subprocess.run([*AS_NOBODY, "/usr/bin/python3.11", "-c", "import frontends.cli, re2"],
                           env={"PYTHONPATH": f"{ROOT}{os.pathsep}{SITE}", "PATH": "/usr/bin"},
                           capture_output=True, check=False, timeout=60)
    return probe.returncode == 0


NOBODY = pytest.mark.skipif(not _nobody_can_run_kb(), reason="needs root, setpriv and a Python "
                            "3.11 that user nobody can run kb with")


def _as_nobody(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "NO_COLOR": "1",
           "KB_CACHE_DIR": str(home / "cache"), "KB_DATA_DIR": str(home / "data"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{SITE}"}
    return subprocess.run([*AS_NOBODY, "/usr/bin/python3.11", "-m", "frontends.cli", *argv],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def nobody_home(tmp_path: Path) -> Path:
    home = tmp_path / "nobody"
    generate(home / "content")
    generate(home / "content" / "sub", n=2, word="Sub")
    sub = home / "content" / "sub" / "faq.md"
    sub.write_text(sub.read_text(encoding="utf-8").replace("widget-", "sub-widget-"),
                   encoding="utf-8")
    for folder, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            os.chown(os.path.join(folder, name), 65534, 65534)
    os.chown(home, 65534, 65534)
    for parent in home.parents:  # (pytest's folders are 0700)
        if parent == Path(parent.anchor):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    return home


def _nobody_search(home: Path) -> subprocess.CompletedProcess[str]:
    return _as_nobody(home, "--no-default", "--kb", str(home / "content"), "search", "-n", "1",
                      QUERY)


@NOBODY
@pytest.mark.parametrize("what", ["file", "folder", "index-dir", "index-dir-of-root"])
def test_f16_f19_real_permissions_as_nobody(what: str, nobody_home: Path) -> None:
    first_run = _nobody_search(nobody_home)
    assert first_run.returncode == 0 and "id: widget-7 " in first_run.stdout, first_run.stderr
    cache = nobody_home / "cache"
    (index,) = [p for p in cache.glob("idx-*") if p.is_dir()]
    target = {"file": nobody_home / "content" / "faq.md",
              "folder": nobody_home / "content" / "sub", "index-dir": index,
              "index-dir-of-root": index}[what]
    if what == "index-dir-of-root":  # left by `sudo kb`: root's, 0700
        for folder, dirs, files in os.walk(index):
            for name in [*dirs, *files]:
                os.chown(os.path.join(folder, name), 0, 0)
        os.chown(index, 0, 0)
        index.chmod(0o700)
    else:
        target.chmod(0)
    try:
        for _ in range(2):
            done = _nobody_search(nobody_home)
            assert done.returncode == 0, done.stderr
            assert "id: widget-7 " in done.stdout and "Traceback" not in done.stderr
            assert done.stderr.count("kb: warning:") <= 1, done.stderr
            if what in ("file", "folder"):
                assert f"{target}:0: cannot read " in done.stderr
        if what == "folder":
            lint = _as_nobody(nobody_home, "lint", str(nobody_home / "content"))
            assert lint.returncode == 1 and f"{target}:0: cannot read folder" in lint.stdout
    finally:
        target.chmod(0o700 if target.is_dir() else 0o644)
