"""The library API of issue 2, and the wheel: content ships inside it and works elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import kb
from kb import Entry, Hit, KbError, KnowledgeBase, UnknownEntryError

ROOT = Path(__file__).resolve().parent.parent


def test_public_names() -> None:
    for name in kb.__all__:
        assert getattr(kb, name) is not None, name


def test_default_search_get_entries(shipped: KnowledgeBase) -> None:
    hits = shipped.search("no shared cipher", limit=3)
    assert 1 <= len(hits) <= 3 and all(isinstance(h, Hit) for h in hits)
    best = hits[0]
    assert best.entry.id == "no-shared-cipher" and isinstance(best.entry, Entry)
    assert 0.0 <= best.confidence <= 1.0 and best.score > 0
    json.dumps(best.why.as_json())
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert shipped.get("no-shared-cipher") == best.entry
    assert len(shipped.entries()) == len(shipped) >= 62


def test_unknown_id_is_a_kb_error(shipped: KnowledgeBase) -> None:
    with pytest.raises(UnknownEntryError) as info:
        shipped.get("no-such-id")
    assert isinstance(info.value, KbError)


def test_from_paths_combines_collections(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.md").write_text("# A\n\n## How do I polish gizmos?\n\nGently.\n")
    (tmp_path / "b.md").write_text("# B\n\n## Why do gizmos squeak?\n\nOil them.\n")
    mine = KnowledgeBase.from_paths([tmp_path / "a", tmp_path / "b.md"])
    assert [e.id for e in mine.entries()] == ["how-do-i-polish-gizmos", "why-do-gizmos-squeak"]
    assert mine.search("gizmos squeak")[0].entry.id == "why-do-gizmos-squeak"


def test_build_query_then_run(shipped: KnowledgeBase) -> None:
    query = shipped.build_query("AH02565: Certificate and private key x do not match")
    assert query.parsed.ah_codes == ["AH02565"]
    assert shipped.run(query, limit=1)[0].entry.id == "key-cert-match"


@pytest.mark.skipif(os.environ.get("KB_SKIP_WHEEL") == "1", reason="KB_SKIP_WHEEL=1")
def test_wheel_ships_content_and_works_from_elsewhere(tmp_path: Path) -> None:
    """Build the wheel, unpack it, and import kb from it in another directory."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("kb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kb/content/mod_ssl/certificates.md" in names
    assert "kb/data/openssl_reasons.tsv" in names and "kb/py.typed" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = ("from kb import KnowledgeBase; "
            "print(KnowledgeBase.default().search('no shared cipher')[0].entry.id)")
    env = {**os.environ, "PYTHONPATH": str(unpacked), "KB_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                           f"{str(unpacked)!r}); {code}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no-shared-cipher"
