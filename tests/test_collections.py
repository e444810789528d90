"""Collections side by side (issue 14 item 4): each path its own index and confidence, hits
name their collection, --collection restricts, a broken extra file is skipped with one
warning (--strict: an error) and never disables the others."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from frontends.cli import Env, ExitCode, main
from kb import ContentError, KnowledgeBase, UnknownEntryError

SHAPES = Path(__file__).parent / "data" / "shapes"
BROKEN = "---\nlast_review: x\n---\n\n## Why?\n\n```kb\nidd: nope\n```\n"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(stdin=io.StringIO(""), stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_each_path_is_a_named_collection(shipped: KnowledgeBase, cache_dir: Path) -> None:
    kb = KnowledgeBase.from_paths([shipped.entries()[0].source.file.rsplit("/", 2)[0],
                                   SHAPES / "mixed-levels.md"])
    assert kb.collections() == ["mod_ssl", "mixed-levels"]
    (hit,) = kb.search("how do I restore a knob backup", limit=1)
    assert (hit.entry.collection, hit.entry.id) == ("mixed-levels", "how-do-i-restore-a-backup")
    assert hit.as_json()["collection"] == "mixed-levels"
    # The shipped FAQ keeps its answers beside another collection.
    (hit,) = kb.search("AH02565: Certificate and private key do not match", limit=1)
    assert (hit.entry.collection, hit.entry.id) == ("mod_ssl", "key-cert-match")


def test_only_restricts_to_named_collections(cache_dir: Path) -> None:
    kb = KnowledgeBase.from_paths([SHAPES / "mixed-levels.md", SHAPES / "details.md"])
    assert {e.collection for e in kb.only(["details"]).entries()} == {"details"}
    with pytest.raises(UnknownEntryError, match="no collection named nope"):
        kb.only(["nope"])


def test_a_broken_extra_file_is_skipped_with_one_warning(tmp_path: Path,
                                                         cache_dir: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(BROKEN, encoding="utf-8")
    kb = KnowledgeBase.from_paths([SHAPES / "details.md", broken])
    assert kb.collections() == ["details"]
    (warning,) = kb.warnings
    assert warning.startswith(f"{broken}:8: unknown metadata key 'idd'")
    assert warning.endswith(f"collection 'broken' ({broken}) skipped (--strict makes this an "
                            "error)")
    with pytest.raises(ContentError):
        KnowledgeBase.from_paths([SHAPES / "details.md", broken], strict=True)


def test_cli_broken_extra_file_keeps_the_shipped_faq(tmp_path: Path, cache_dir: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(BROKEN, encoding="utf-8")
    code, out, err = _run("--kb", str(broken), "search", "--json", "-n", "1",
                          "AH02565: Certificate and private key do not match")
    assert code == ExitCode.OK and json.loads(out)["hits"][0]["id"] == "key-cert-match"
    assert err.count("kb: warning:") == 1 and "skipped" in err
    code, _, err = _run("--strict", "--kb", str(broken), "search", "x")
    assert code == ExitCode.CONTENT


def test_cli_collection_option(cache_dir: Path) -> None:
    code, out, _ = _run("--kb", str(SHAPES / "details.md"), "--collection", "details",
                        "search", "--json", "sync stops at 99%")
    hits = json.loads(out)["hits"]
    assert code == ExitCode.OK and {h["collection"] for h in hits} == {"details"}
    code, _, err = _run("--collection", "nope", "search", "x")
    assert code == ExitCode.UNKNOWN_ID and "loaded: mod_ssl" in err


def test_diagnose_without_signatures_on_the_cli(cache_dir: Path) -> None:
    code, out, _ = _run("--no-default", "--kb", str(SHAPES / "mixed-levels.md"), "diagnose",
                        "--unmatched", str(cache_dir.parent / "unmatched.md"))
    assert code == ExitCode.OK and "0 problem(s)" in out
