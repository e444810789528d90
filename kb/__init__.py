"""kb: FAQ Markdown compiled into a searchable knowledge base that understands error logs.

    >>> from kb import KnowledgeBase
    >>> kb = KnowledgeBase.default()
    >>> kb.search("error:0A0000C1:SSL routines::no shared cipher")[0].entry.id
    'no-shared-cipher'
"""

from __future__ import annotations

from kb.diagnose import Diagnoser, Diagnosis, Problem
from kb.errors import ContentError, IndexStateError, KbError, QueryError, UnknownEntryError
from kb.knowledgebase import KnowledgeBase, default_content_dir
from kb.model import Entry, Hit, Signature, SignatureKind, Source

__version__ = "0.1.0"

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
