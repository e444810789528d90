"""Index: cache keyed by content, automatic rebuild, atomic build, last good index kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb import ContentError, Entry, KnowledgeBase
from kb.text import analyze

FAQ = Path(__file__).parent / "data" / "faq"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "faq"
    shutil.copytree(FAQ, target)
    return target


def _index_dirs(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("idx-*"))


def test_build_once_then_reuse(tmp_path: Path, cache_dir: Path) -> None:
    content = _copy(tmp_path)
    first = KnowledgeBase.from_paths([content])
    assert first.index_location.startswith(str(cache_dir))
    stamp = (Path(first.index_location) / "kb-complete").stat().st_mtime_ns
    second = KnowledgeBase.from_paths([content])
    assert second.index_location == first.index_location
    assert (Path(second.index_location) / "kb-complete").stat().st_mtime_ns == stamp
    assert not list(cache_dir.glob("tmp-*"))  # built in a temporary dir, then renamed


def test_content_change_rebuilds_and_prunes(tmp_path: Path, cache_dir: Path) -> None:
    content = _copy(tmp_path)
    old = KnowledgeBase.from_paths([content]).index_location
    with (content / "plain.md").open("a", encoding="utf-8") as handle:
        handle.write("\n### Can widgets swim?\n\nNo.\n")
    new = KnowledgeBase.from_paths([content])
    assert new.index_location != old
    assert new.get("can-widgets-swim").answer == "No."
    assert _index_dirs(cache_dir) == [Path(new.index_location).name]


def test_broken_content_keeps_last_good_index(tmp_path: Path, cache_dir: Path) -> None:
    content = _copy(tmp_path)
    good = KnowledgeBase.from_paths([content])
    (content / "broken.md").write_bytes(b"# S\n\n## Caf\xe9?\n\nx\n")
    with pytest.raises(ContentError):
        KnowledgeBase.from_paths([content], strict=True)
    kept = KnowledgeBase.from_paths([content])
    assert kept.index_location == good.index_location
    assert len(kept.warnings) == 1
    assert "broken.md:3: not UTF-8" in kept.warnings[0]
    assert kept.warnings[0].endswith("using the last good index")
    assert kept.search("widget reset")[0].entry.id == "how-do-i-reset-a-widget"


def test_forced_rebuild(tmp_path: Path, cache_dir: Path) -> None:
    content = _copy(tmp_path)
    first = KnowledgeBase.from_paths([content])
    stamp = (Path(first.index_location) / "kb-complete").stat().st_mtime_ns
    again = KnowledgeBase.from_paths([content], rebuild=True)
    assert again.index_location == first.index_location
    assert (Path(again.index_location) / "kb-complete").stat().st_mtime_ns != stamp


def test_several_collections_combine(tmp_path: Path, cache_dir: Path) -> None:
    content = _copy(tmp_path)
    kb = KnowledgeBase.from_paths([content / "plain.md", content / "annotated.md"])
    assert [e.collection for e in kb.entries()] == ["plain"] * 3 + ["annotated"] * 2
    assert kb.collections() == ["plain", "annotated"]
    assert len(kb) == 5


def test_analyzer_keeps_identifiers_and_parts() -> None:
    terms = analyze("SSLCertificateFile SSL3_READ_BYTES AH02565 0A0000C1")
    for term in ("sslcertificatefile", "certif", "ssl3_read_bytes", "ssl3", "ah02565",
                 "0a0000c1"):
        assert term in terms, term


@pytest.mark.parametrize(("text", "terms"), [
    # a negation is a stop word however it is written, not two strong terms
    ("Pause doesn't work", ["paus", "work"]),
    ("Pause doesn\u2019t work", ["paus", "work"]),
    ("it won't start and can't bind", ["start", "bind"]),
    # a possessive or a contraction's tail is not a term of its own
    ("Apache's mod_ssl's config", ["apach", "mod_ssl", "modssl", "mod", "ssl", "config"]),
    ("Why isn\u2019t a particular command documented?", ["particular", "command", "document"]),
])
def test_contractions_and_possessives_are_one_word(text: str, terms: list[str]) -> None:
    assert analyze(text) == terms


def test_warm_load_gives_the_compiled_entries(tmp_path: Path, cache_dir: Path) -> None:
    # A warm start builds entries from the cache without validation: they must equal (and
    # validate as) what the compiler made.
    from kb.compiler import compile_paths

    content = _copy(tmp_path)
    KnowledgeBase.from_paths([content])
    warm = KnowledgeBase.from_paths([content]).entries()
    assert warm == compile_paths([content])
    assert [Entry.model_validate(e.model_dump()) for e in warm] == warm


def test_concurrent_in_memory_builds_keep_scratch_files_apart() -> None:
    # whoosh's own RamStorage writes scratch files to <temp>/MAIN.tmp and deletes that folder
    # when done, breaking any other build running at the same moment.
    from concurrent.futures import ThreadPoolExecutor

    from kb.compiler import compile_paths
    from kb.whoosh_build import export

    entries = compile_paths([FAQ]) * 40
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda _: len(export(entries)["ids"]), range(8)))
    assert built == [len(entries)] * 8


def test_a_build_that_spills_to_scratch_files_exports_the_same(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Large builds make whoosh sort postings in runs on scratch files; the export must not
    # depend on it, and no scratch folder may be left behind.
    import tempfile

    from kb import whoosh_build as index
    from kb.compiler import compile_paths

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    entries = compile_paths([FAQ]) * 20
    in_memory = index.export(entries)
    monkeypatch.setattr(index, "WRITER_LIMIT_MB", 0.01)
    assert index.export(entries) == in_memory
    assert index.export(entries, under=tmp_path) == in_memory
    assert list(tmp_path.iterdir()) == []


def test_a_searcher_over_collections_pickles(tmp_path: Path, cache_dir: Path) -> None:
    # The log pipe may send its searcher to worker processes: memory-mapped index files and
    # lazily read entry records travel as their bytes.
    import pickle

    from kb import default_content_dir

    kb = KnowledgeBase.from_paths([default_content_dir(), _copy(tmp_path)])
    searcher = pickle.loads(pickle.dumps(kb.searcher))
    assert searcher.entries.ids == kb.searcher.entries.ids
    assert [searcher.entries[i].data for i in range(len(kb))] == [
        e.model_dump(mode="json") for e in kb.entries()]
    query = kb.build_query("widget reset")
    assert [h.entry.id for h in searcher.rank(query)] == [h.entry.id for h in kb.run(query)]
