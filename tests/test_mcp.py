"""kb mcp, tested with the MCP SDK's own client: in-process, over stdio as a subprocess
(`kb mcp`), and over streamable HTTP under `kb serve --mcp`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from kbserver import LAB_EXCERPT, ROOT, kb_serve, run_cli
from mcp import Client, MCPError, StdioServerParameters
from mcp_types import CallToolResult, TextContent, TextResourceContents

from frontends.live import LiveKb
from frontends.mcp_server import create_server
from kb import KnowledgeBase, default_content_dir

LINE = "[ssl:emerg] AH02565: Certificate and private key www:443:0 from a and b do not match"


def run(test: Callable[[Client], Awaitable[None]], server: Any) -> None:
    async def main() -> None:
        with anyio.fail_after(60):
            async with Client(server) as client:
                await test(client)

    anyio.run(main)


@pytest.fixture
def server(shipped: KnowledgeBase) -> Any:
    return create_server(LiveKb(shipped, [default_content_dir()], interval=0))


def text_of(result: CallToolResult) -> str:
    assert result.content and isinstance(result.content[0], TextContent)
    return result.content[0].text


def test_tools_are_listed_read_only(server: Any) -> None:
    async def test(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"search", "show", "explain", "diagnose"}
        for tool in tools.values():
            assert tool.description and tool.annotations and tool.annotations.read_only_hint
        assert tools["search"].input_schema["required"] == ["text"]

    run(test, server)


def test_search_explain_show_give_the_cli_answers(server: Any) -> None:
    async def test(client: Client) -> None:
        found = await client.call_tool("search", {"text": LINE, "limit": 3})
        assert not found.is_error
        assert found.structured_content == json.loads(run_cli("search", "--json", "-n", "3",
                                                              LINE)[1])
        explained = await client.call_tool("explain", {"text": LINE})
        assert explained.structured_content == json.loads(run_cli("explain", "--json", LINE)[1])
        shown = await client.call_tool("show", {"id": "key-cert-match"})
        assert text_of(shown).rstrip() == run_cli("show", "--raw", "key-cert-match")[1].rstrip()

    run(test, server)


def test_diagnose_takes_lines_and_gives_the_cli_problems(server: Any) -> None:
    lines = LAB_EXCERPT.read_text(encoding="utf-8").splitlines()
    excerpt = LAB_EXCERPT.read_text(encoding="utf-8")
    expected = [json.loads(line) for line in
                run_cli("diagnose", "--json", stdin=excerpt)[1].splitlines()]

    async def test(client: Client) -> None:
        result = await client.call_tool("diagnose", {"lines": lines})
        assert not result.is_error and result.structured_content is not None
        assert result.structured_content["problems"] == expected[:-1]
        assert result.structured_content["summary"] == expected[-1]
        quiet = await client.call_tool("diagnose", {"lines": ["[notice] all is well"]})
        assert quiet.structured_content is not None
        assert quiet.structured_content["problems"] == []

    run(test, server)


def test_errors_reach_the_model_as_tool_errors(server: Any) -> None:
    async def test(client: Client) -> None:
        unknown = await client.call_tool("show", {"id": "no-such-entry"})
        assert unknown.is_error and "no entry with id 'no-such-entry'" in text_of(unknown)
        empty = await client.call_tool("search", {"text": "  "})
        assert empty.is_error and "empty query" in text_of(empty)
        too_many = await client.call_tool("search", {"text": "x", "limit": 1000})
        assert too_many.is_error and "limit" in text_of(too_many)
        hostile = await client.call_tool("search", {"text": "\x1b[31m\x00AH02565"})
        assert not hostile.is_error
        assert "Traceback" not in text_of(unknown) + text_of(empty) + text_of(too_many)

    run(test, server)


def test_entries_are_resources(server: Any, shipped: KnowledgeBase) -> None:
    async def test(client: Client) -> None:
        listed = (await client.list_resources()).resources
        assert [str(r.uri) for r in listed] == [f"kb://entries/{e.id}" for e in shipped.entries()]
        assert listed[0].mime_type == "text/markdown" and listed[0].title
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["kb://entries/{id}"]
        read = await client.read_resource("kb://entries/no-shared-cipher")
        content = read.contents[0]
        assert isinstance(content, TextResourceContents)
        assert content.text.startswith(f"# {shipped.get('no-shared-cipher').title}\n")
        for uri in ("kb://entries/nope", "kb://entries/..%2F..%2Fetc%2Fpasswd",
                    "kb://elsewhere/x"):
            with pytest.raises(MCPError):
                await client.read_resource(uri)

    run(test, server)


def test_kb_mcp_over_stdio(tmp_path: Path) -> None:
    """The real command: `kb mcp --kb FOLDER` as a subprocess the SDK's client starts and
    stops."""
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "w.md").write_text("# W\n\n## How do I frobnicate widgets?\n\nGently.\n")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "frontends.cli", "--kb", str(folder), "mcp"],
        cwd=ROOT, env={**os.environ})

    async def test(client: Client) -> None:
        assert client.server_info is not None and client.server_info.name == "kb"
        found = await client.call_tool("search", {"text": "frobnicate widgets", "limit": 1})
        assert found.structured_content is not None
        assert found.structured_content["hits"][0]["id"] == "how-do-i-frobnicate-widgets"
        read = await client.read_resource("kb://entries/how-do-i-frobnicate-widgets")
        assert isinstance(read.contents[0], TextResourceContents)
        assert "Gently." in read.contents[0].text

    run(test, params)


def test_kb_mcp_exits_0_when_the_client_closes_stdin() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "frontends.cli", "mcp"], cwd=ROOT, input="",
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout == "", done.stderr


def test_kb_serve_mcp_over_streamable_http() -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    with kb_serve("--mcp", "--token", "mcp-token") as served:
        async def main() -> None:
            with anyio.fail_after(60):
                await exchange()

        async def exchange() -> None:
            headers = {"Authorization": "Bearer mcp-token"}
            async with httpx2.AsyncClient(headers=headers, trust_env=False) as http:
                transport = streamable_http_client(served.url + "mcp", http_client=http)
                async with Client(transport) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert names == {"search", "show", "explain", "diagnose"}
                    found = await client.call_tool("search", {"text": LINE, "limit": 1})
                    assert found.structured_content is not None
                    assert found.structured_content["hits"][0]["id"] == "key-cert-match"
            async with httpx2.AsyncClient(trust_env=False) as anonymous:
                refused = await anonymous.post(served.url + "mcp", json={})
                assert refused.status_code == 401

        anyio.run(main)
