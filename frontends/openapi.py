"""The OpenAPI 3.1 document of ``kb serve`` (``GET /openapi.json``).

Written by hand because the responses are the CLI's ``--json`` shapes, made by the library's
``as_json`` methods rather than by response models; tests/test_serve.py validates real
responses against these schemas, so the document cannot drift from what the server sends.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_OPT_STR = {"type": ["string", "null"]}
_OBJ = {"type": "object"}  # shapes the ranking owns (why, parsed, query): kept open


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_SCHEMAS: dict[str, Any] = {
    "Error": _obj(["error", "status"], error=_STR, status=_INT),
    "Hit": _obj(["id", "title", "score", "confidence", "why", "answer"], id=_STR, title=_STR,
                score=_NUM, confidence={"type": "number", "minimum": 0, "maximum": 1},
                why=_OBJ, answer={"type": ["string", "null"]}),
    "SearchResult": _obj(["query", "hits"], query=_STR,
                         hits={"type": "array", "items": _ref("Hit")}),
    "Explanation": _obj(["parsed", "query", "hits"], parsed=_OBJ, query=_OBJ,
                        hits={"type": "array", "items": _ref("Hit")}),
    "QueryBody": {**_obj(["q"], q={"type": "string", "minLength": 1},
                         limit={"type": "integer", "minimum": 1, "maximum": 100}),
                  "additionalProperties": False},
    "EntryItem": _obj(["id", "title", "section", "tags", "see_also", "summary"], id=_STR,
                      title=_STR, section=_STR, tags={"type": "array", "items": _STR},
                      see_also={"type": "array", "items": _STR}, summary=_STR),
    "EntryList": _obj(["entries"], entries={"type": "array", "items": _ref("EntryItem")}),
    "Entry": _obj(["id", "title", "answer", "section", "tags", "questions", "signatures",
                   "examples", "see_also", "source", "markdown", "answer_html"],
                  id=_STR, title=_STR, answer=_STR, section=_STR,
                  tags={"type": "array", "items": _STR},
                  questions={"type": "array", "items": _STR},
                  signatures={"type": "array", "items": _obj(["kind", "text"], kind=_STR,
                                                               text=_STR)},
                  examples={"type": "array", "items": _STR},
                  see_also={"type": "array", "items": _STR},
                  source=_obj(["file", "line"], file=_STR, line=_INT),
                  verified=_STR, markdown=_STR, answer_html=_STR),
    "Problem": _obj(["type", "id", "title", "confidence", "count", "first_line", "last_line",
                     "sample", "template"],
                    type={"const": "problem"}, id=_STR, title=_STR, confidence=_NUM,
                    count=_INT, first_line=_INT, last_line=_INT, sample=_STR,
                    template=_OPT_STR, other_variants={"type": "boolean"},
                    level=_OPT_STR, first_time=_OPT_STR, last_time=_OPT_STR, source=_OPT_STR,
                    where=_STR, startup={"type": "boolean"},
                    context={"type": "array", "items": _STR}, key=_STR, first_step=_STR,
                    filled_in={"type": "array", "items": _STR}, verified=_OPT_STR,
                    hosts={"type": "object", "additionalProperties": _INT}),
    "Summary": _obj(["type", "lines", "problems"], type={"const": "summary"}, lines=_INT,
                    candidate_lines=_INT, matched_lines=_INT, problems=_INT,
                    unmatched_templates=_INT, startup_failures=_INT, host_count=_INT,
                    hosts={"type": "object", "additionalProperties": _INT}),
    "Health": _obj(["status", "version", "entries", "generation", "loaded_at", "warnings"],
                   status=_STR, version=_STR, entries=_INT, generation=_INT, loaded_at=_STR,
                   warnings={"type": "array", "items": _STR}),
}


def _json(name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {400: "bad request", 401: "missing or wrong bearer token (with --token)",
               404: "unknown entry id", 408: "over the time limit (--timeout)",
               413: "body over the size limit (--max-body, --max-log)",
               421: "Host is not a loopback name (server bound to loopback)",
               422: "invalid input (missing or empty q, bad limit, not JSON or UTF-8, "
                    "damaged gzip)", 500: "internal error (details in the server log)"}
    return {str(code): _json("Error", reasons[code]) for code in (401, 421, 500, *codes)}


_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                     "maximum": 100}}
_QUERY_BODY = {"required": True, "content": {
    "application/json": {"schema": _ref("QueryBody")},
    "text/plain": {"schema": {"type": "string", "description": "the text itself; "
                              "limit as a query parameter"}}}}

_PATHS: dict[str, Any] = {
    "/healthz": {"get": {"summary": "Liveness, the loaded content and its warnings "
                         "(a failed reload is reported here)",
                         "responses": {"200": _json("Health"), **_errors()}}},
    "/v1/search": {
        "get": {"summary": "Rank entries for a log line or a question (kb search --json)",
                "parameters": [{"name": "q", "in": "query", "required": True,
                                "schema": _STR}, _LIMIT],
                "responses": {"200": _json("SearchResult"), **_errors(408, 422)}},
        "post": {"summary": "The same for long pasted excerpts",
                 "parameters": [_LIMIT], "requestBody": _QUERY_BODY,
                 "responses": {"200": _json("SearchResult"), **_errors(408, 413, 422)}},
    },
    "/v1/explain": {"post": {
        "summary": "The parsed line, the query built and each hit's contributions "
                   "(kb explain --json)",
        "parameters": [_LIMIT], "requestBody": _QUERY_BODY,
        "responses": {"200": _json("Explanation"), **_errors(408, 413, 422)}}},
    "/v1/entries": {"get": {"summary": "Every entry, in content order",
                            "responses": {"200": _json("EntryList"), **_errors(408)}}},
    "/v1/entries/{id}": {"get": {
        "summary": "One entry: fields, the Markdown page of kb show --raw, the answer as HTML",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": _json("Entry"), **_errors(404, 408)}}},
    "/v1/diagnose": {"post": {
        "summary": "A whole log, plain or gzip, to its problems (kb diagnose --json)",
        "description": "The body is read as it arrives and never held whole. The answer is "
                       "NDJSON: one Problem object per line, worst first, then one Summary.",
        "parameters": [{"name": "Content-Encoding", "in": "header", "required": False,
                        "schema": {"enum": ["gzip", "identity"]}}],
        "requestBody": {"required": True, "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {"200": {"description": "NDJSON: Problem lines, then a Summary line",
                              "content": {"application/x-ndjson": {"schema": {
                                  "oneOf": [_ref("Problem"), _ref("Summary")]}}}},
                      **_errors(400, 408, 413, 422)}}},
}


def document(*, mcp: bool = False) -> dict[str, Any]:
    """The OpenAPI document (``mcp``: mention the MCP endpoint at /mcp)."""
    from kb import __version__

    paths = dict(_PATHS)
    if mcp:
        paths["/mcp"] = {"post": {"summary": "MCP over streamable HTTP (JSON-RPC; see the "
                                  "Model Context Protocol)", "responses": {"200": {
                                      "description": "a JSON-RPC response"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "kb", "version": __version__,
                 "description": "Answers 'this line is in my error log - what do I do?' "
                                "from FAQ Markdown. Every error is {error, status}."},
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }
