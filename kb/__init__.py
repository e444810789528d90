"""kb: FAQ Markdown compiled into a searchable knowledge base that understands error logs.

    >>> from kb import KnowledgeBase
    >>> kb = KnowledgeBase.default()
    >>> kb.search("error:0A0000C1:SSL routines::no shared cipher")[0].entry.id
    'no-shared-cipher'
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from kb.errors import ContentError, IndexStateError, KbError, QueryError, UnknownEntryError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kb.diagnose import Diagnoser, Diagnosis, Problem
    from kb.knowledgebase import KnowledgeBase, default_content_dir
    from kb.model import Entry, Hit, Signature, SignatureKind, Source

# Loaded on first use, so `kb --version` or a search does not pay for what it does not use.
_LAZY = {
    "Diagnoser": "kb.diagnose",
    "Diagnosis": "kb.diagnose",
    "Problem": "kb.diagnose",
    "KnowledgeBase": "kb.knowledgebase",
    "default_content_dir": "kb.knowledgebase",
    "Entry": "kb.model",
    "Hit": "kb.model",
    "Signature": "kb.model",
    "SignatureKind": "kb.model",
    "Source": "kb.model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kb' has no attribute {name!r}")

__all__ = [
    "ContentError",
    "Diagnoser",
    "Diagnosis",
    "Problem",
    "Entry",
    "Hit",
    "IndexStateError",
    "KbError",
    "KnowledgeBase",
    "QueryError",
    "Signature",
    "SignatureKind",
    "Source",
    "UnknownEntryError",
    "__version__",
    "default_content_dir",
]
