"""The kb commands: each parses its arguments, makes one library call and renders.

Building the parser imports nothing of the library: each handler imports what it uses, so
``kb --help`` and ``kb --version`` pay for argparse alone and a search does not pay for the
log pipe, the shell or the servers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from frontends.cli import Env, ExitCode, UsageError, content_paths, load
from frontends.serve import SERVE_EXIT, _mcp_args, _serve_args, mcp, serve

TYPE_CHECKING = False  # (not typing's: see frontends.cli)
if TYPE_CHECKING:
    from collections.abc import Callable


class Spec:
    """One command: name, help line, argument setup and handler."""

    def __init__(self, name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None],
                 handler: Callable[[argparse.Namespace, Env], int], description: str = "") -> None:
        self.name = name
        self.help = help
        self.arguments = arguments
        self.handler = handler
        self.description = description


def _query_text(args: argparse.Namespace, env: Env) -> str:
    """The query: the words given, or stdin ('-'); read up to what kb searches of a query
    (frontends.streams: bounded, and bytes that are not UTF-8 become U+FFFD)."""
    from frontends.streams import binary, from_argv, read_query
    from kb import MAX_QUERY_CHARS

    words = list(args.text)
    if words == ["-"]:
        return read_query(env.stdin, binary(env.stdin, env.stdin_binary))
    text = from_argv(" ".join(words))[:MAX_QUERY_CHARS]
    if not text.strip():
        raise UsageError("empty query: give a log line or a question (or '-' to read stdin)")
    return text


# -- search ------------------------------------------------------------------------------


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="+", metavar="TEXT",
                   help="log line(s) or question; '-' reads stdin")
    p.add_argument("-n", "--limit", type=int, default=5, metavar="N",
                   help="hits to show (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON: {query, hits: [...]}")


def search(args: argparse.Namespace, env: Env) -> int:
    """kb search: ranked entries for a log line or a question."""
    from frontends.render import dumps, hit_lines
    from kb import CONFIDENT

    if args.limit < 1:
        raise UsageError("-n must be at least 1")
    text = _query_text(args, env)
    hits = load(args, env).search_records(text, limit=args.limit)
    env.result = ExitCode.OK if hits else ExitCode.FOUND
    if args.json:
        env.stdout.write(dumps({"query": text, "hits": [h.as_json() for h in hits]}) + "\n")
    elif hits:
        env.stdout.write("\n".join(hit_lines(hits, confident_at=CONFIDENT)) + "\n")
        if hits[0].confidence < CONFIDENT:
            env.stderr.write("kb: no confident answer; the closest entries are listed\n")
    else:
        env.stderr.write("kb: no entry matches\n")
    return ExitCode.OK if hits else ExitCode.FOUND


# -- show --------------------------------------------------------------------------------


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", help="entry id (as printed by kb search)")
    p.add_argument("--raw", action="store_true", help="print the Markdown source")


def show(args: argparse.Namespace, env: Env) -> int:
    """kb show: one entry's full answer."""
    from frontends.render import entry_markdown, write_markdown

    entry = load(args, env).record(args.id)
    write_markdown(env.stdout, entry_markdown(entry), rich=env.color and not args.raw)
    return ExitCode.OK


# -- explain -----------------------------------------------------------------------------


def _explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="+", metavar="TEXT",
                   help="log line(s) or question; '-' reads stdin")
    p.add_argument("-n", "--limit", type=int, default=3, metavar="N", help="hits to explain")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")


def explain(args: argparse.Namespace, env: Env) -> int:
    """kb explain: the parsed line, the query built and each hit's contributions."""
    from frontends.explain import explanation_lines
    from frontends.render import dumps

    kb = load(args, env)
    query = kb.build_query(_query_text(args, env))
    hits = kb.search_query(query, limit=args.limit)
    if args.json:
        data = {
            "parsed": query.parsed.as_json(),
            "query": query.as_json(),
            "hits": [h.as_json() | {"answer": None} for h in hits],
        }
        env.stdout.write(dumps(data) + "\n")
    else:
        env.stdout.write("\n".join(explanation_lines(query, hits)) + "\n")
    return ExitCode.OK if hits else ExitCode.FOUND


# -- lint / build ------------------------------------------------------------------------


def _paths_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="Markdown files or folders "
                   "(default: the content kb would load)")


def _chosen_paths(args: argparse.Namespace, env: Env) -> list[Path]:
    return [Path(p) for p in args.paths] if args.paths else content_paths(args, env)


def lint(args: argparse.Namespace, env: Env) -> int:
    """kb lint: compile and check content without touching the index."""
    from frontends.render import clean
    from kb import lint_paths as run_lint
    from kb import lint_warnings

    paths = _chosen_paths(args, env)
    problems = run_lint(paths)
    env.result = ExitCode.FOUND if problems else ExitCode.OK
    for warning in [] if problems else lint_warnings(paths):
        env.stdout.write(clean(warning, keep_newlines=False) + "\n")
    for problem in problems:
        env.stdout.write(clean(problem, keep_newlines=False) + "\n")
    if problems:
        env.stderr.write(f"kb: {len(problems)} problem(s)\n")
        return ExitCode.FOUND
    names = ", ".join(str(p) for p in paths)
    env.stdout.write(f"ok: {clean(names, keep_newlines=False)}\n")
    return ExitCode.OK


def build(args: argparse.Namespace, env: Env) -> int:
    """kb build: compile and index now, replacing the cached index of that content; exit 5
    when the index could not be cached (the warning says why)."""
    from frontends.render import clean
    from kb import KnowledgeBase

    kb = KnowledgeBase.from_paths(_chosen_paths(args, env), rebuild=True, strict=True,
                                  cache_dir=env.cache_dir)
    for warning in kb.warnings:
        env.stderr.write(f"kb: warning: {clean(warning, keep_newlines=False)}\n")
    uncached = [name for name, where in kb.index_locations().items() if where == "memory"]
    if uncached:
        env.stderr.write(f"kb: error: built {len(kb)} entries, but the index of "
                         f"{clean(', '.join(uncached), keep_newlines=False)} could not be "
                         "cached: fix the cache directory (KB_CACHE_DIR) and build again\n")
        return ExitCode.ERROR
    where = ", ".join(kb.index_locations().values())
    env.stdout.write(f"built {len(kb)} entries: {clean(where, keep_newlines=False)}\n")
    return ExitCode.OK


def _diagnose_args(p: argparse.ArgumentParser) -> None:
    """Arguments of ``kb diagnose`` (here, so that building the parser for another command
    does not import the log pipe)."""
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="log files: plain, gzip, xz, bzip2 or zstd (default or '-': stdin)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="follow one FILE like tail -F: from its end (see --from-start), "
                        "waiting for it to appear, across rotation, replacement and "
                        "truncation; stop with Ctrl-C or SIGTERM (a summary is printed)")
    p.add_argument("--from-start", action="store_true",
                   help="with --follow: read what the file holds already, then follow")
    p.add_argument("--json", action="store_true",
                   help="NDJSON: one {type: problem} object per problem, then {type: summary}")
    p.add_argument("--brief", action="store_true",
                   help="one line per problem: count, level, entry, log message, title")
    p.add_argument("--full", action="store_true",
                   help="print each whole answer, not only the first thing to do")
    p.add_argument("--since", metavar="TIME",
                   help="only lines from TIME on: ISO 8601 (2026-12-01T07:40) or an age "
                        "(30m, 2h, 7d)")
    p.add_argument("--level", choices=("emerg", "alert", "crit", "error", "warn", "notice",
                                       "info", "debug"),
                   help="only problems at this level or worse")
    p.add_argument("--top", type=int, metavar="N", help="only the N worst problems")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour: auto (a terminal without NO_COLOR), always or never")
    p.add_argument("--no-pager", action="store_true",
                   help="never page a long report on a terminal ($PAGER, else less)")
    p.add_argument("--unmatched", metavar="FILE", type=Path,
                   help="write error-looking lines that got no confident answer as a "
                        "Markdown stub for new FAQ entries ('-': to stdout; an existing "
                        "file is replaced only if it is such a report, unedited)")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="worker processes: files, and parts of big plain files, in parallel "
                        "(default: the number of cores for several files or one plain file "
                        "over 32 MB, when they hold over 16 MB of text; else 1; stdin "
                        "redirected from such a file counts as that file); the report is the "
                        "same as with -j 1")
    p.add_argument("--dask", metavar="SCHEDULER",
                   help="run on Dask: 'local' (a local cluster, -j workers) or a scheduler "
                        "address (tcp://host:8786); FILEs may be globs and fsspec URLs "
                        "(pip install 'kb[dask]')")
    p.add_argument("--by-host", action="store_true",
                   help="group the report by host, most affected first (a host is the one a "
                        "syslog or journald line names, else its file without rotation "
                        "suffixes: error.log.2.gz is error.log)")


def diagnose(args: argparse.Namespace, env: Env) -> int:
    """kb diagnose: the log pipe."""
    from frontends.logpipe import run

    return run(args, env)


# -- shell -------------------------------------------------------------------------------


def _shell_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history", choices=("all", "questions", "off"),
                   help="what the history file ($KB_DATA_DIR/shell_history, mode 0600) keeps: "
                        "all input (default), questions and commands but no pasted log "
                        "excerpts, or nothing (also KB_HISTORY=all|questions|0)")


def shell(args: argparse.Namespace, env: Env) -> int:
    """kb shell: ask, read, explain and browse at an interactive prompt."""
    from frontends.shell import run

    run(load(args, env), env, history_kept=args.history)
    return ExitCode.OK


SPECS: list[Spec] = [
    Spec("diagnose", "read error logs and report each problem once, with its remedy",
         _diagnose_args, diagnose,
         "Read error logs and report each problem once, with its remedy. The lines of one "
         "connection or one start-up attempt are one event, reported under its cause (the "
         "line that says why, not the generic ones around it); events of the same entry and "
         "message template are one problem (count, first and last file:line and time, a "
         "sample). Files are read to the end, then reported: a summary block, worst first, "
         "then each problem's first thing to do, with the log's own host and files filled "
         "into its commands; with --follow or a piped stdin each problem is printed when "
         "first seen, changed counts every few seconds, and a summary at the end, on Ctrl-C "
         "or SIGTERM. Exit codes (like grep's): 0 no problem found, 1 problems found, 2 bad "
         "arguments or an unreadable, binary or damaged input, 3 content error, 130 "
         "interrupted, 143 terminated."),
    Spec("search", "rank FAQ entries for a log line, an excerpt or a question", _search_args,
         search),
    Spec("show", "print one entry's answer", _show_args, show),
    Spec("explain", "show how a line is parsed and why entries rank as they do", _explain_args,
         explain),
    Spec("lint", "check FAQ Markdown: syntax, ids, signatures, examples", _paths_args, lint),
    Spec("build", "build the search index now (normally automatic)", _paths_args, build),
    Spec("shell", "interactive prompt: ask, read answers, explain and browse", _shell_args, shell),
    Spec("serve", "HTTP JSON API and web page (needs kb[serve])", _serve_args, serve,
         "Serve the HTTP JSON API (/v1/search, /v1/entries, /v1/explain, /v1/diagnose, "
         "/healthz, /openapi.json) and the web page at /, on 127.0.0.1 unless --host says "
         "otherwise. Content is loaded as by every command (--kb, --no-default, KB_PATH) and "
         "reloaded when its files change. " + SERVE_EXIT),
    Spec("mcp", "MCP server on stdin/stdout: search, show, explain, diagnose (needs kb[mcp])",
         _mcp_args, mcp,
         "Run an MCP server on stdin/stdout for MCP clients (tools search, show, explain, "
         "diagnose; every entry as the resource kb://entries/{id}). Content is loaded as by "
         "every command and reloaded when its files change. Exit codes: 0 the client closed "
         "the connection, 2 usage, 3 content error, 5 other error (e.g. kb[mcp] is not "
         "installed), 130 interrupted."),
]
