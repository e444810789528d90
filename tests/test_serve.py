"""kb serve's HTTP API, in-process (Starlette's TestClient, or the ASGI app driven directly
where a body must arrive in pieces): every endpoint gives the CLI's --json answer, limits,
token, CORS, Host check, hostile input, the error funnel, the OpenAPI document, reloads."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import jsonschema
import pytest
from kbserver import LAB_EXCERPT, http_request, kb_serve, raw_exchange, run_cli, stop
from starlette.applications import Starlette
from starlette.testclient import TestClient

from frontends.api import ServeSettings, create_app
from frontends.httpguard import LOOPBACK_NAMES, kb_status
from frontends.live import LiveKb
from frontends.openapi import document
from kb import IndexStateError, KnowledgeBase, QueryError, UnknownEntryError, default_content_dir

BASE = "http://127.0.0.1:8765"
LINE = "AH02565: Certificate and private key www.ux.test:443:0 from a and b do not match"
EXCERPT = LAB_EXCERPT.read_text(encoding="utf-8")

Client = Callable[..., TestClient]


@pytest.fixture
def live(shipped: KnowledgeBase) -> LiveKb:
    return LiveKb(shipped, [default_content_dir()], interval=0)


@pytest.fixture
def client(live: LiveKb) -> Iterator[Client]:
    """A TestClient factory: client(token=..., cors=...) with kb serve's loopback defaults."""
    made: list[TestClient] = []

    def make(**options: Any) -> TestClient:
        settings = ServeSettings(**{"allowed_hosts": LOOPBACK_NAMES, **options})
        test_client = TestClient(create_app(live, settings), base_url=BASE,
                                 raise_server_exceptions=False)
        made.append(test_client)
        return test_client

    yield make
    for test_client in made:
        test_client.close()


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": document()["components"]}


def check(data: Any, name: str) -> None:
    """The response matches the OpenAPI document's schema NAME."""
    jsonschema.validate(data, schema(name))


# -- the same answers as the CLI ---------------------------------------------------------------


def test_get_search_is_kb_search_json(client: Client) -> None:
    response = client().get(f"/v1/search?q={quote(LINE)}&limit=3")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    code, out, _ = run_cli("search", "--json", "-n", "3", LINE)
    assert code == 0 and response.text + "\n" == out
    check(response.json(), "SearchResult")
    assert response.json()["hits"][0]["id"] == "key-cert-match"


def test_post_search_takes_a_long_excerpt_as_json_or_text(client: Client) -> None:
    c = client()
    code, out, _ = run_cli("search", "--json", "-n", "5", "-", stdin=EXCERPT)
    as_json = c.post("/v1/search", json={"q": EXCERPT, "limit": 5})
    as_text = c.post("/v1/search?limit=5", content=EXCERPT.encode(),
                     headers={"Content-Type": "text/plain; charset=utf-8"})
    assert as_json.status_code == as_text.status_code == 200
    assert as_json.text + "\n" == out == as_text.text + "\n"
    check(as_json.json(), "SearchResult")


def test_explain_is_kb_explain_json(client: Client) -> None:
    response = client().post("/v1/explain", json={"q": LINE, "limit": 2})
    code, out, _ = run_cli("explain", "--json", "-n", "2", LINE)
    assert response.status_code == 200 and response.text + "\n" == out
    check(response.json(), "Explanation")
    assert response.json()["parsed"]["lines"][0]["ah_codes"] == ["AH02565"]


def test_entries_and_one_entry(client: Client, shipped: KnowledgeBase) -> None:
    c = client()
    listing = c.get("/v1/entries").json()
    check(listing, "EntryList")
    assert [e["id"] for e in listing["entries"]] == [e.id for e in shipped.entries()]
    entry = c.get("/v1/entries/remove-passphrase-dialog").json()
    check(entry, "Entry")
    _, shown, _ = run_cli("show", "--raw", "remove-passphrase-dialog")
    assert entry["markdown"].rstrip() == shown.rstrip()
    assert entry["answer_html"].startswith("<p>") and "<code>" in entry["answer_html"]
    assert entry["see_also"] == list(shipped.get("remove-passphrase-dialog").see_also)


def test_diagnose_is_kb_diagnose_json(client: Client) -> None:
    response = client().post("/v1/diagnose", content=LAB_EXCERPT.read_bytes())
    code, out, _ = run_cli("diagnose", "--json", stdin=LAB_EXCERPT.read_text(encoding="utf-8"))
    assert code == 1 and response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.text == out
    lines = [json.loads(line) for line in response.text.splitlines()]
    for item in lines[:-1]:
        check(item, "Problem")
    check(lines[-1], "Summary")
    assert lines[-1]["lines"] == 47 and len(lines) - 1 == lines[-1]["problems"] >= 5


def test_diagnose_reads_gzip_by_magic_or_header_and_several_members(client: Client) -> None:
    c = client()
    plain = c.post("/v1/diagnose", content=LAB_EXCERPT.read_bytes()).text
    data = LAB_EXCERPT.read_bytes()
    half = data.rfind(b"\n", 0, len(data) // 2) + 1
    members = gzip.compress(data[:half]) + gzip.compress(data[half:])  # like cat a.gz b.gz
    assert c.post("/v1/diagnose", content=gzip.compress(data)).text == plain
    assert c.post("/v1/diagnose", content=members).text == plain
    declared = c.post("/v1/diagnose", content=gzip.compress(data),
                      headers={"Content-Encoding": "gzip"})
    assert declared.text == plain


def asgi_post(app: Starlette, path: str, chunks: list[bytes], headers: dict[str, str],
              pause: float = 0.0) -> tuple[int, bytes]:
    """POST to the ASGI app with the body in the given pieces (``pause`` s between them)."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            if pause and len(messages) < len(chunks):
                await anyio.sleep(pause)
            return messages.pop(0)
        await anyio.sleep(3600)  # no disconnect while the response goes out
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 8765),
             "headers": [(b"host", b"127.0.0.1:8765"),
                         *((k.lower().encode(), v.encode()) for k, v in headers.items())]}

    async def call() -> None:
        with anyio.fail_after(30):
            await app(scope, receive, send)

    anyio.run(call)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_diagnose_fed_in_small_pieces_gives_the_same_report(live: LiveKb) -> None:
    """Pieces split mid-line and mid-gzip-member: the diagnoser is fed as the body arrives."""
    app = create_app(live, ServeSettings(allowed_hosts=LOOPBACK_NAMES))
    data = LAB_EXCERPT.read_bytes()
    _, out, _ = run_cli("diagnose", "--json", stdin=LAB_EXCERPT.read_text(encoding="utf-8"))
    plain = [data[i:i + 97] for i in range(0, len(data), 97)]
    packed = gzip.compress(data)
    zipped = [packed[i:i + 13] for i in range(0, len(packed), 13)]
    for chunks in (plain, zipped, [data[:1], data[1:]]):
        status, body = asgi_post(app, "/v1/diagnose", chunks, {})
        assert status == 200 and body.decode() == out


def test_diagnose_body_that_stops_coming_is_a_408(live: LiveKb) -> None:
    app = create_app(live, ServeSettings(allowed_hosts=LOOPBACK_NAMES, timeout=0.3))
    status, body = asgi_post(app, "/v1/diagnose", [b"[error] a\n", b"[error] b\n"], {},
                             pause=1.5)
    assert status == 408
    assert json.loads(body) == {"error": "no request data for 0.3 s (kb serve --timeout)",
                                "status": 408}


# -- limits ----------------------------------------------------------------------------------


def test_oversized_bodies_are_413(client: Client) -> None:
    c = client(max_body=1000, max_log=5000)
    big = {"q": "x" * 2000}
    response = c.post("/v1/search", json=big)
    assert response.status_code == 413 and "limit is 1000" in response.json()["error"]
    assert c.post("/v1/explain", json=big).status_code == 413
    assert c.post("/v1/diagnose", content=b"[error] x\n" * 600).status_code == 413
    assert c.post("/v1/search", json={"q": "pass phrase"}).status_code == 200  # still serving


def test_chunked_body_over_the_limit_is_413(live: LiveKb) -> None:
    app = create_app(live, ServeSettings(allowed_hosts=LOOPBACK_NAMES, max_log=5000))
    status, body = asgi_post(app, "/v1/diagnose", [b"[error] x\n" * 300] * 3, {})
    assert status == 413 and b"over the limit of 5000 bytes" in body


def test_gzip_bomb_is_stopped_by_the_decompressed_size(client: Client) -> None:
    bomb = gzip.compress(b"[error] boom\n" * 2_000_000)  # 26 MB inflated, ~50 KB packed
    assert len(bomb) < 200_000
    response = client(max_log=1 << 20).post("/v1/diagnose", content=bomb)
    assert response.status_code == 413
    assert "over the limit of 1048576 bytes" in response.json()["error"]


def test_damaged_and_truncated_gzip_are_422(client: Client) -> None:
    c = client()
    packed = gzip.compress(LAB_EXCERPT.read_bytes())
    damaged = packed[:40] + bytes(b ^ 0xFF for b in packed[40:80]) + packed[80:]
    for body, words in ((damaged, "damaged gzip"), (packed[:-30], "ends early")):
        response = c.post("/v1/diagnose", content=body)
        assert response.status_code == 422 and words in response.json()["error"]


def test_slow_answer_is_408(client: Client) -> None:
    c = client(timeout=0.001)
    response = c.post("/v1/explain", json={"q": " ".join(f"word{i}" for i in range(15000))})
    assert response.status_code == 408
    assert response.json()["error"] == ("the request took longer than 0.001 s "
                                        "(kb serve --timeout)")


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "the body is not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{}", "missing q"),
    (b'{"q": ""}', "empty q"),
    (b'{"q": "   \\n"}', "empty q"),
    (b'{"q": 42}', "q must be a string"),
    (b'{"q": "x", "limit": 0}', "limit must be"),
    (b'{"q": "x", "limit": 101}', "limit must be"),
    (b'{"q": "x", "limit": true}', "limit must be"),
    (b'{"q": "x", "limit": "5"}', None),
    (b'{"q": "x", "extra": 1}', "unknown field(s) extra"),
    (b'{"q": "\xff\xfe broken"}', "not valid UTF-8"),
    (b'{"q": "raw \x00 nul"}', "the body is not JSON"),
])
def test_invalid_query_bodies_are_422(client: Client, body: bytes, message: str | None) -> None:
    response = client().post("/v1/search", content=body,
                             headers={"Content-Type": "application/json"})
    if message is None:
        assert response.status_code == 200
        return
    assert response.status_code == 422, response.text
    assert message in response.json()["error"] and response.json()["status"] == 422


def test_invalid_get_parameters_are_422(client: Client) -> None:
    c = client()
    assert c.get("/v1/search").json() == {
        "error": "missing q: give a log line, an excerpt or a question", "status": 422}
    assert c.get("/v1/search?q=x&limit=abc").status_code == 422
    assert c.get("/v1/search?q=%20").status_code == 422
    assert c.post("/v1/search?limit=5", content=b"\xff\xfe",
                  headers={"Content-Type": "text/plain"}).status_code == 422


# -- hostile input ---------------------------------------------------------------------------


def test_control_characters_never_come_back_raw(client: Client) -> None:
    c = client()
    hostile = "AH02565 \x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \x00 \u202e"
    for response in (c.get("/v1/search", params={"q": hostile}),
                     c.post("/v1/search", json={"q": hostile}),
                     c.post("/v1/explain", json={"q": hostile})):
        assert response.status_code == 200
        raw = response.content
        assert raw.isascii() and b"\x1b" not in raw and b"\x00" not in raw and b"\x07" not in raw
    assert c.post("/v1/search", json={"q": hostile}).json()["query"] == hostile  # escaped, kept
    diagnosed = c.post("/v1/diagnose", content=b"\x1b[2J[ssl:emerg] AH02565: \x00 x\n")
    assert diagnosed.status_code == 200 and diagnosed.content.isascii()
    assert b"\x1b" not in diagnosed.content


def test_invalid_utf8_and_surrogates_are_answered(client: Client) -> None:
    c = client()
    assert c.get("/v1/search?q=%FF%FEAH02565%00").status_code == 200
    lone = c.post("/v1/search", content=b'{"q": "AH02565 \\ud800 x"}',
                  headers={"Content-Type": "application/json"})
    assert lone.status_code == 200 and lone.json()["query"] == "AH02565 \ufffd x"
    diagnosed = c.post("/v1/diagnose", content=b"[ssl:emerg] \xff\xfe AH02565: x\n\x00\x00\n")
    assert diagnosed.status_code == 200


@pytest.mark.parametrize("path", [
    "/v1/entries/..%2F..%2Fetc%2Fpasswd", "/v1/entries/%2e%2e", "/v1/entries/..",
    "/v1/entries/../../../etc/passwd", "/v1/entries/%00", "/v1/entries/%1b%5b31m",
    "/static/..%2Fapi.py", "/static/index.html", "/static/../../pyproject.toml",
    "/v1/entries/remove-passphrase-dialog/../../../etc/passwd", "/etc/passwd",
])
def test_path_traversal_finds_nothing(client: Client, path: str) -> None:
    response = client().get(path)
    assert response.status_code == 404, path
    assert response.json()["status"] == 404
    assert "root:" not in response.text and "[project]" not in response.text
    assert response.content.isascii()


def test_unknown_routes_and_methods_are_json_errors(client: Client) -> None:
    c = client()
    assert c.get("/nowhere").json() == {"error": "Not Found", "status": 404}
    assert c.get("/v1/diagnose").json() == {"error": "Method Not Allowed", "status": 405}
    assert c.get("/v1/entries/no-such-entry").json() == {
        "error": "no entry with id 'no-such-entry'", "status": 404}


def test_an_internal_error_is_a_plain_500_and_the_server_goes_on(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    c = client()

    def broken(self: KnowledgeBase, text: str, limit: int = 5) -> list[Any]:
        raise RuntimeError("secret detail /home/user/.ssh")

    monkeypatch.setattr(KnowledgeBase, "search", broken)
    response = c.get("/v1/search?q=x")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "status": 500}
    assert "secret" not in response.text and "Traceback" not in response.text
    monkeypatch.undo()
    assert c.get("/v1/search?q=pass+phrase").status_code == 200


def test_kb_errors_map_to_4xx() -> None:
    assert kb_status(UnknownEntryError("x")) == 404
    assert kb_status(QueryError("x")) == 422
    assert kb_status(IndexStateError("x")) == 400


# -- token, Host, CORS, headers ----------------------------------------------------------------


def test_token_is_required_and_compared(client: Client) -> None:
    c = client(token="s3cret-token")
    missing = c.get("/v1/search?q=x")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error"].startswith("missing token")
    for header in ("Bearer wrong", "Bearer s3cret-tokenX", "Basic s3cret-token", "s3cret-token",
                   "Bearer", "Bearer \x00"):
        response = c.get("/healthz", headers={"Authorization": header})
        assert response.status_code == 401, header
    good = {"Authorization": "Bearer s3cret-token"}
    assert c.get("/healthz", headers=good).status_code == 200
    assert c.get("/v1/search?q=pass+phrase", headers={"Authorization": "bearer s3cret-token"}
                 ).status_code == 200
    assert c.post("/v1/diagnose", content=b"x\n").status_code == 401
    assert c.get("/openapi.json").status_code == 401
    assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200


def test_only_loopback_host_names_on_loopback(client: Client) -> None:
    c = client()
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST", "127.0.0.1"):
        assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""):
        response = c.get("/healthz", headers={"Host": host})
        assert response.status_code == 421, host
    assert client(allowed_hosts=()).get("/healthz", headers={"Host": "kb.lan"}).status_code == 200


def test_no_cors_unless_asked(client: Client) -> None:
    origin = {"Origin": "https://tools.example"}
    plain = client().get("/v1/search?q=x", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    preflight = {**origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    assert "access-control-allow-origin" not in client().options("/v1/search",
                                                                 headers=preflight).headers
    c = client(cors=("https://tools.example",), token="t")
    allowed = c.options("/v1/search", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://tools.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    got = c.get("/v1/search?q=pass+phrase", headers={**origin, "Authorization": "Bearer t"})
    assert got.headers["access-control-allow-origin"] == "https://tools.example"
    other = c.get("/v1/search?q=x", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_security_headers(client: Client) -> None:
    c = client()
    page = c.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "require-trusted-types-for 'script'" in csp
    api = c.get("/healthz")
    assert api.headers["cache-control"] == "no-store"
    for response in (page, api, c.get("/static/style.css")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert "server" not in api.headers


# -- health, reloads, OpenAPI ----------------------------------------------------------------


def test_healthz(client: Client, shipped: KnowledgeBase) -> None:
    health = client().get("/healthz").json()
    check(health, "Health")
    assert health["status"] == "ok" and health["entries"] == len(shipped)
    assert health["warnings"] == [] and health["generation"] == 1


FAQ = "# Widgets\n\n## How do I frobnicate widgets?\n\nGently, with a {tool}.\n"


def _content(tmp_path: Path, tool: str = "feather") -> Path:
    folder = tmp_path / "faq"
    folder.mkdir(exist_ok=True)
    (folder / "w.md").write_text(FAQ.replace("{tool}", tool), encoding="utf-8")
    return folder


def _touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 5  # a new mtime even on coarse file systems
    import os

    os.utime(path, (stamp, stamp))


def test_reload_swaps_in_new_content_and_keeps_the_old_on_a_broken_edit(
        tmp_path: Path, cache_dir: Path) -> None:
    folder = _content(tmp_path)
    live = LiveKb(KnowledgeBase.from_paths([folder]), [folder], interval=0)
    c = TestClient(create_app(live, ServeSettings()), raise_server_exceptions=False)
    first = c.get("/v1/entries/how-do-i-frobnicate-widgets").json()
    assert "feather" in first["answer"]
    old = live.kb
    _touch(folder / "w.md", FAQ.replace("{tool}", "brush"))
    assert live.check_now() is True
    assert "brush" in c.get("/v1/entries/how-do-i-frobnicate-widgets").json()["answer"]
    assert "feather" in old.get("how-do-i-frobnicate-widgets").answer  # the old one still works
    assert c.get("/healthz").json()["generation"] == 2

    _touch(folder / "w.md", FAQ.replace("{tool}", "brush") + "\n```kb\nid: Not An Id!\n```\n")
    assert live.check_now() is False
    health = c.get("/healthz").json()
    assert len(health["warnings"]) == 1 and "still serving the previous content" in \
        health["warnings"][0] and "w.md" in health["warnings"][0]
    assert "brush" in c.get("/v1/entries/how-do-i-frobnicate-widgets").json()["answer"]

    _touch(folder / "w.md", FAQ.replace("{tool}", "comb"))
    assert live.check_now() is True
    assert c.get("/healthz").json()["warnings"] == []
    assert "comb" in c.get("/v1/search?q=frobnicate").json()["hits"][0]["answer"]


def test_the_watcher_reloads_while_the_app_runs(tmp_path: Path, cache_dir: Path) -> None:
    folder = _content(tmp_path)
    live = LiveKb(KnowledgeBase.from_paths([folder]), [folder], interval=0.05)
    with TestClient(create_app(live, ServeSettings())) as c:  # the lifespan starts the watcher
        _touch(folder / "w.md", FAQ.replace("{tool}", "sponge"))
        deadline = time.monotonic() + 20
        while c.get("/healthz").json()["generation"] == 1:
            assert time.monotonic() < deadline, "no reload within 20 s"
            time.sleep(0.05)
        assert "sponge" in c.get("/v1/entries/how-do-i-frobnicate-widgets").json()["answer"]


def test_entry_html_shows_raw_html_as_text_and_drops_script_links(
        tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "x.md").write_text(
        "# X\n\n## How do I test hostile content?\n\n<script>alert(1)</script> and "
        "<img src=x onerror=alert(2)>, [a link](javascript:alert(3)), "
        "[data](data:text/html,<b>x</b>) and [fine](https://example.org/).\n",
        encoding="utf-8")
    live = LiveKb(KnowledgeBase.from_paths([folder]), [folder], interval=0)
    html = TestClient(create_app(live)).get("/v1/entries/how-do-i-test-hostile-content"
                                            ).json()["answer_html"]
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html and 'href="data:' not in html
    assert '<a href="https://example.org/">fine</a>' in html


def test_openapi_document_names_every_route(client: Client, live: LiveKb) -> None:
    doc = client().get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    jsonschema.Draft202012Validator.check_schema(schema("Entry"))
    app = create_app(live)
    paths = {str(getattr(route, "path", "")) for route in app.routes}
    api_paths = {path for path in paths if path.startswith(("/v1", "/healthz"))}
    assert api_paths == set(doc["paths"])
    for name in doc["components"]["schemas"]:
        jsonschema.Draft202012Validator.check_schema(schema(name))
    error = client().get("/v1/entries/nope").json()
    check(error, "Error")


# -- the command -----------------------------------------------------------------------------


def test_port_in_use_is_exit_5(cache_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run_cli("serve", "--port", str(port))
    assert code == 5 and "kb: error:" in err and "in use" in err


def test_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import frontends.serve

    monkeypatch.setattr(frontends.serve, "_have", lambda *names: False)
    code, _, err = run_cli("serve")
    assert code == 5 and err == "kb: error: kb serve needs the 'serve' extra: " \
        "pip install 'kb[serve]'\n"
    code, _, err = run_cli("mcp")
    assert code == 5 and "pip install 'kb[mcp]'" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "not a port number"),
    (["--timeout", "0"], "--timeout must be more than 0"),
    (["--max-body", "lots"], "not a size"),
    (["--reload-interval", "-1"], "out of range"),
])
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    code, _, err = run_cli("serve", *args)
    assert code == 2 and message in err


def test_other_commands_do_not_import_the_server_stack() -> None:
    import subprocess
    import sys

    probe = ("import sys, io; from frontends.cli import main, Env; "
             "main(['search', '--json', 'pass phrase'], Env(stdout=io.StringIO())); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'starlette', 'uvicorn', 'mcp', 'anyio', 'httpx'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_kb_serve_end_to_end(tmp_path: Path) -> None:
    """kb serve as a real process on a free loopback port: content from --kb, KB_TOKEN,
    every endpoint, a chunked gzip upload, a stalled body, a reload, then SIGTERM."""
    import os

    folder = _content(tmp_path)
    environ = {**os.environ, "KB_TOKEN": "e2e-token", "KB_CACHE_DIR": str(tmp_path / "cache")}
    auth = {"Authorization": "Bearer e2e-token"}
    with kb_serve("--kb", str(folder), "--reload-interval", "0.2", "--timeout", "2",
                  environ=environ) as served:
        url = served.url
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        status, _, body = http_request(url, "GET", "/healthz", headers=auth)
        health = json.loads(body)
        assert status == 200 and health["entries"] == len(KnowledgeBase.default()) + 1
        assert http_request(url, "GET", "/healthz")[0] == 401
        assert http_request(url, "GET", "/healthz", headers={**auth, "Host": "evil.example"}
                        )[0] == 421
        status, _, body = http_request(url, "GET", "/v1/search?q=frobnicate+widgets", headers=auth)
        assert json.loads(body)["hits"][0]["id"] == "how-do-i-frobnicate-widgets"
        status, headers, page = http_request(url, "GET", "/")
        assert status == 200 and b"Diagnose a log" in page
        assert "script-src 'self'" in headers["content-security-policy"]

        packed = gzip.compress(LAB_EXCERPT.read_bytes())
        pieces = (packed[i:i + 500] for i in range(0, len(packed), 500))
        status, headers, body = http_request(url, "POST", "/v1/diagnose", body=pieces,
                                         headers=auth, chunked=True)
        excerpt = LAB_EXCERPT.read_text(encoding="utf-8")
        # The same content on the CLI (confidences depend on the collections side by side).
        _, expected, _ = run_cli("--kb", str(folder), "diagnose", "--json", stdin=excerpt)
        assert status == 200 and body.decode() == expected

        status, _, body = http_request(url, "POST", "/v1/search",
                                   body=b"{" + b" " * 2_000_000 + b"}",
                                   headers={**auth, "Content-Type": "application/json"})
        assert status == 413
        start = time.monotonic()
        stalled = raw_exchange(url, b"POST /v1/diagnose HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Authorization: Bearer e2e-token\r\nContent-Length: 1000\r\n\r\n"
                            b"[error] x\n", wait=8)
        assert stalled.startswith(b"HTTP/1.1 408 "), stalled[:200]
        assert b"no request data for 2 s" in stalled and time.monotonic() - start < 8

        _touch(folder / "w.md", FAQ.replace("{tool}", "velvet glove"))
        deadline = time.monotonic() + 20
        while True:
            _, _, body = http_request(url, "GET", "/v1/entries/how-do-i-frobnicate-widgets",
                                  headers=auth)
            if "velvet glove" in json.loads(body)["answer"]:
                break
            assert time.monotonic() < deadline, "content change not served within 20 s"
            time.sleep(0.1)
        assert http_request(url, "GET", "/healthz", headers=auth)[0] == 200

        assert stop(served.process) == 0
    assert not any("Traceback" in line for line in served.stderr), served.stderr


def test_load_script_runs_bounded_and_clean() -> None:
    """scripts/load.py --quick: a real server under a short concurrent load, a streamed log and
    the hostile burst; no failed request, memory bounded."""
    import subprocess
    import sys

    from kbserver import ROOT

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "load.py"), "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "errors 0 " in done.stdout and "same as kb diagnose --json: True" in done.stdout
    assert done.stdout.rstrip().endswith("load: ok")
