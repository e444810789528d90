"""kb: FAQ Markdown compiled into a searchable knowledge base that understands error logs.

    >>> from kb import KnowledgeBase
    >>> kb = KnowledgeBase.default()
    >>> kb.search("error:0A0000C1:SSL routines::no shared cipher")[0].entry.id
    'no-shared-cipher'

Module map (frontends import only from this package's top level):

- content: ``compiler`` (Markdown -> ``model.Entry``: ``frontmatter`` blanks a page's front
  matter, ``blocks`` reads markdown-it's tokens into headings, text and navigation,
  ``layout`` decides which are questions, sections and answers), ``lint`` (checks beyond
  compiling), ``files`` (which files are content);
- understanding a line: ``logline`` (one ``ParsedLine`` per line: prefix via ``shapes/``,
  ``masks`` template, AH codes, ``openssl`` errors; ``levels``), ``text`` (tokens and index
  terms);
- the two kinds of evidence ranking combines: ``signals`` (exact: codes, reasons, signatures,
  matched in one pass with ``regexguard``'s RE2 set) and ``bm25`` (the text scorer);
- ``rank`` (query from a parse, scores, confidence, why; numbers in ``weights``);
- entries and hits: ``model`` (the pydantic models of the API) and ``records`` (the same as
  plain data: what the cache hands out and ranking returns, so a warm search never imports
  pydantic);
- the index: ``whoosh_build`` (entries -> posting lists in whoosh's numbers, by kb's own
  inverter; whoosh's build is its reference) and ``cache`` (on-disk indexes, the one owner
  of cache policy);
- the semantic extra (``pip install 'kb[semantic]'``): ``semantic`` (sentence vectors blended
  into ``search``) and ``wordpiece`` (its tokenizer);
- ``knowledgebase`` (the facade) and ``diagnose`` (the log pipe: a cache in front of rank).
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# Not typing.TYPE_CHECKING: `import kb` (what `kb --version` needs) imports nothing more.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kb.compiler import slugify
    from kb.diagnose import Diagnoser, Diagnosis, Problem, Unmatched
    from kb.errors import (
        ContentError,
        IndexStateError,
        KbError,
        LogInputError,
        QueryError,
        UnknownEntryError,
    )
    from kb.fillin import fill as fill_in
    from kb.fillin import values_from
    from kb.knowledgebase import KnowledgeBase, default_content_dir
    from kb.lint import lint as lint_paths
    from kb.lint import lint_warnings
    from kb.logfiles import BLOCK as LOG_BLOCK
    from kb.logfiles import check_text as check_log_text
    from kb.logfiles import open_log
    from kb.logfiles import read_blocks as log_blocks
    from kb.logfiles import stdin_blocks as stream_blocks
    from kb.logline import Parsed, ParsedLine, parse
    from kb.model import Entry, Hit, Signature, Source
    from kb.rank import MAX_QUERY_CHARS, Query
    from kb.records import EntryLike, EntryRecord, HitLike, HitRecord, SignatureKind, Why
    from kb.weights import CONFIDENT

# Loaded on first use, so `kb --version` imports no module of the library and a search does
# not pay for what it does not use.
_LAZY = {
    "CONFIDENT": "kb.weights",
    "ContentError": "kb.errors",
    "IndexStateError": "kb.errors",
    "KbError": "kb.errors",
    "QueryError": "kb.errors",
    "LogInputError": "kb.errors",
    "UnknownEntryError": "kb.errors",
    "Diagnoser": "kb.diagnose",
    "Diagnosis": "kb.diagnose",
    "Problem": "kb.diagnose",
    "Unmatched": "kb.diagnose",
    "KnowledgeBase": "kb.knowledgebase",
    "default_content_dir": "kb.knowledgebase",
    "lint_paths": "kb.lint:lint",
    "lint_warnings": "kb.lint",
    "Parsed": "kb.logline",
    "ParsedLine": "kb.logline",
    "parse": "kb.logline",
    "Entry": "kb.model",
    "Hit": "kb.model",
    "Signature": "kb.model",
    "Source": "kb.model",
    "EntryLike": "kb.records",
    "EntryRecord": "kb.records",
    "HitLike": "kb.records",
    "HitRecord": "kb.records",
    "SignatureKind": "kb.records",
    "Why": "kb.records",
    "Query": "kb.rank",
    "MAX_QUERY_CHARS": "kb.rank",
    "fill_in": "kb.fillin:fill",
    "slugify": "kb.compiler",
    "open_log": "kb.logfiles:open_log",
    "log_blocks": "kb.logfiles:read_blocks",
    "stream_blocks": "kb.logfiles:stdin_blocks",
    "check_log_text": "kb.logfiles:check_text",
    "LOG_BLOCK": "kb.logfiles:BLOCK",
    "values_from": "kb.fillin:values_from",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        value = getattr(import_module(module), attribute or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kb' has no attribute {name!r}")


__all__ = [
    "CONFIDENT",
    "LOG_BLOCK",
    "MAX_QUERY_CHARS",
    "LogInputError",
    "check_log_text",
    "log_blocks",
    "open_log",
    "stream_blocks",
    "ContentError",
    "Diagnoser",
    "Diagnosis",
    "Entry",
    "EntryLike",
    "EntryRecord",
    "Hit",
    "HitLike",
    "HitRecord",
    "IndexStateError",
    "KbError",
    "KnowledgeBase",
    "Parsed",
    "ParsedLine",
    "Problem",
    "Query",
    "QueryError",
    "Signature",
    "SignatureKind",
    "Source",
    "UnknownEntryError",
    "Unmatched",
    "Why",
    "__version__",
    "default_content_dir",
    "fill_in",
    "lint_paths",
    "lint_warnings",
    "parse",
    "slugify",
    "values_from",
]
