#!/usr/bin/env python3
"""Write a deterministic Apache 2.4 error log for benchmarks and tests.

    python scripts/make_log.py OUT [--lines N] [--seed S] [--ssl-share 0.03] [--mpm event]
    python scripts/make_log.py OUT --realistic [--lines N] [--seed S] [--templates K]

``--realistic`` writes a log with production variety instead (scripts/realistic_log.py: many
modules, IPv6 clients, thousands of host names, UUIDs, serials, 30% TLS errors, 3% unique
lines); ``--templates K`` with it writes exactly K distinct templates (a cardinality sweep).
The default log below is easy for a log pipe: its variables are mostly digits.

Most lines are the routine traffic of a busy Debian httpd 2.4.62 (restart notices, missing
files, denied clients, PHP warnings, php-fpm's "Primary script unknown", TLS handshake
debug/info lines, socache debug). About ``--ssl-share`` of the events (a little more of the
lines: some events are two lines) are real mod_ssl problems: the Apache 2.4 example lines of
the shipped FAQ (the ``examples:`` of each ```kb block) with time, pid, tid and client
re-randomised, plus the two-line OpenSSL pair that LogLevel info writes for a failed
handshake (AH02008 then "SSL Library Error", same pid and tid).
Output depends only on the seed, the options and the FAQ content (random.Random(seed); no
set iteration, no clock).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONTENT = ROOT / "content"
START = 1709633521  # Tue Mar 05 10:12:01 2024 UTC: the date the FAQ's examples use
MEAN_GAP = 0.02  # seconds between lines on average (a busy server: ~50 lines/s)

Mpm = Literal["event", "prefork"]

# An Apache 2.4 example line of the FAQ: time, then module:level, then (optionally) the pid.
_PREFIX = re.compile(
    r"^\[[^\[\]]{8,48}\] \[(?P<module>[\w-]+):(?P<level>\w+)\](?P<pid> \[pid [^\]]+\])?"
)
_CLIENT = re.compile(r"\[client [^\]]+\]")


# -- the FAQ's example lines ---------------------------------------------------------------


def read_examples(content: Path) -> list[tuple[str, str]]:
    """(entry id, example line) of every ```kb block under ``content``, in file order.

    A deliberately small reader (not kb.compiler) so a half-edited FAQ file elsewhere does
    not stop log generation: it only needs the ``id:`` and ``examples:`` items.
    """
    found: list[tuple[str, str]] = []
    for path in sorted(content.rglob("*.md")):
        entry, key, inside = "", "", False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() == "```kb":
                entry, key, inside = "", "", True
            elif inside and line.strip() == "```":
                inside = False
            elif inside and line.startswith("- ") and key == "examples":
                found.append((entry or path.stem, line[2:].strip()))
            elif inside and ":" in line and not line.startswith((" ", "-")):
                key, _, value = line.partition(":")
                entry = value.strip() if key == "id" else entry
    return found


@dataclass(frozen=True)
class Problem:
    """One FAQ example reduced to a template: module, level, message after the pid."""

    entry: str
    module: str
    level: str
    rest: str  # everything after "[pid ...]" (or after the level), with its leading space
    weight: float


def problem_templates(content: Path) -> list[Problem]:
    """The Apache 2.4-shaped FAQ examples (old 2.2 and non-Apache lines are left out)."""
    out = []
    for entry, line in read_examples(content):
        m = _PREFIX.match(line)
        if m is None:
            continue
        level = m["level"].lower()
        # Per-connection TLS failures (info) repeat all day; start-up errors are rare.
        weight = 12.0 if level in ("info", "debug") else 3.0 if level == "warn" else 1.0
        out.append(Problem(entry, m["module"], level, line[m.end():], weight))
    # Messages httpd writes in a 2.4 error log whose FAQ examples are written without prefix.
    out += [
        Problem("port-443-in-use", "core", "crit", " (98)Address already in use: AH00072: "
                "make_sock: could not bind to address [::]:443", 0.5),
        Problem("port-443-in-use", "mpm_event", "alert",
                " AH00451: no listening sockets available, shutting down", 0.5),
        Problem("ssl-module-not-loaded", "core", "alert", " [client 203.0.113.7:51234] "
                "/var/www/html/.htaccess: Invalid command 'SSLEngine', perhaps misspelled or "
                "defined by a module not included in the server configuration", 0.5),
    ]
    return out


# -- the routine traffic -------------------------------------------------------------------

_PATHS = ("favicon.ico", "robots.txt", "apple-touch-icon.png", "apple-touch-icon-precomposed.png",
          "wp-login.php", ".env", "sitemap.xml", "ads.txt", ".well-known/security.txt",
          "images/logo@2x.png", "old/index.html", "xmlrpc.php")
_DENIED = ("/var/www/html/server-status", "/var/www/html/.git/config", "/var/www/html/.htpasswd",
           "/usr/share/phpmyadmin/", "/var/www/html/wp-config.php.bak")
_PHP = (
    ("warn", "PHP Warning:  Undefined array key \"HTTP_REFERER\" in /var/www/html/index.php on "
             "line {n}"),
    ("warn", "PHP Warning:  count(): Parameter must be an array or an object that implements "
             "Countable in /var/www/html/wp-includes/post-template.php on line {n}"),
    ("warn", "PHP Warning:  Cannot modify header information - headers already sent by (output "
             "started at /var/www/html/wp-content/themes/site/functions.php:{n}) in "
             "/var/www/html/wp-includes/pluggable.php on line 1435"),
    ("warn", "PHP Warning:  file_get_contents(https://api.example.net/v1/rates): Failed to open "
             "stream: HTTP request failed! HTTP/1.1 503 Service Unavailable\\r\\n in "
             "/var/www/html/lib/rates.php on line {n}"),
    ("notice", "PHP Notice:  Undefined index: page in /var/www/html/index.php on line {n}"),
    ("notice", "PHP Deprecated:  Function create_function() is deprecated in "
               "/var/www/html/wp-content/plugins/old-plugin/old.php on line {n}"),
)
_SUITES = (("TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256"),
           ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "128/128"),
           ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "256/256"),
           ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "128/128"),
           ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "256/256"))
_HOSTS = ("www.example.com:443", "shop.example.com:443", "example.com:443")


class Server:
    """The changing state of one httpd: clock, parent pid, child processes, clients."""

    def __init__(self, rng: Random, mpm: Mpm) -> None:
        self.rng = rng
        self.mpm = mpm
        self.now = float(START) + rng.random()
        self._stamp_second = -1
        self._stamp = ("", "")
        self.parent = rng.randrange(900, 3000)
        self.children: list[int] = []
        self._spawn()
        # Clients repeat (crawlers, a few busy users): a pool with a skewed pick.
        self.clients = [self._address() for _ in range(1500)]

    # -- fields --------------------------------------------------------------------------

    def tick(self) -> None:
        self.now += self.rng.expovariate(1.0 / MEAN_GAP)

    def stamp(self) -> str:
        """``Tue Mar 05 10:12:01.123456 2024`` for the current time (seconds cached)."""
        second = int(self.now)
        if second != self._stamp_second:
            self._stamp_second = second
            t = time.gmtime(second)
            self._stamp = time.strftime("%a %b %d %H:%M:%S", t), time.strftime("%Y", t)
        head, year = self._stamp
        return f"{head}.{int((self.now - second) * 1e6):06d} {year}"

    def worker(self) -> str:
        """``[pid N:tid T]`` (event) or ``[pid N]`` (prefork) of a random child."""
        pid = self.rng.choice(self.children)
        if self.mpm == "prefork":
            return f"[pid {pid}]"
        # Thread ids are addresses: a base per child plus one 8 MB stack per worker thread.
        tid = 139_900_000_000_000 + pid * 4096 + self.rng.randrange(64) * 8_392_704
        return f"[pid {pid}:tid {tid}]"

    def master(self) -> str:
        if self.mpm == "prefork":
            return f"[pid {self.parent}]"
        return f"[pid {self.parent}:tid {139_912_345_678_912 + self.parent}]"

    def client(self) -> str:
        pool = self.clients
        address = pool[min(int(self.rng.paretovariate(1.2)) - 1, len(pool) - 1)] \
            if self.rng.random() < 0.5 else self.rng.choice(pool)
        return f"[client {address}:{self.rng.randrange(1024, 65536)}]"

    def _address(self) -> str:
        r = self.rng
        if r.random() < 0.08:
            return f"2001:db8:{r.randrange(65536):x}::{r.randrange(65536):x}"
        return f"{r.choice((23, 31, 45, 66, 81, 93, 104, 146, 178, 185, 198, 203))}." \
               f"{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def _spawn(self) -> None:
        base = self.parent + self.rng.randrange(5, 200)
        count = 3 if self.mpm == "event" else 8
        self.children = [base + i * self.rng.randrange(1, 9) for i in range(count)]

    def restart(self, full: bool) -> None:
        if full:
            self.parent += self.rng.randrange(50, 5000)
        self._spawn()

    def line(self, module: str, level: str, who: str, message: str) -> str:
        return f"[{self.stamp()}] [{module}:{level}] {who} {message}"


Event = Callable[[Server], list[str]]


def _version(s: Server, ssl: bool = True) -> str:
    openssl = " OpenSSL/3.0.15" if ssl else ""
    return f"AH00489: Apache/2.4.62 (Debian){openssl} configured -- resuming normal operations"


def _graceful(s: Server) -> list[str]:
    mpm = f"mpm_{s.mpm}"
    first = s.line(mpm, "notice", s.master(), "AH00171: Graceful restart requested, doing restart")
    s.restart(full=False)
    s.tick()
    return [first, s.line(mpm, "notice", s.master(), _version(s)),
            s.line("core", "notice", s.master(), "AH00094: Command line: '/usr/sbin/apache2'")]


def _stop_start(s: Server) -> list[str]:
    mpm = f"mpm_{s.mpm}"
    first = s.line(mpm, "notice", s.master(), "AH00169: caught SIGTERM, shutting down")
    s.now += s.rng.uniform(1.0, 30.0)
    s.restart(full=True)
    return [first, s.line(mpm, "notice", s.master(), _version(s)),
            s.line("core", "notice", s.master(), "AH00094: Command line: '/usr/sbin/apache2'")]


def _missing(s: Server) -> list[str]:
    path = s.rng.choice(_PATHS)
    referer = f", referer: https://www.example.com/{s.rng.choice(('', 'blog/', 'shop/cart'))}" \
        if s.rng.random() < 0.3 else ""
    return [s.line("core", "error", s.worker(),
                   f"{s.client()} AH00128: File does not exist: /var/www/html/{path}{referer}")]


def _denied(s: Server) -> list[str]:
    return [s.line("authz_core", "error", s.worker(), f"{s.client()} AH01630: client denied by "
                   f"server configuration: {s.rng.choice(_DENIED)}")]


def _php(s: Server) -> list[str]:
    level, text = s.rng.choice(_PHP)
    message = text.format(n=s.rng.randrange(2, 900))
    return [s.line("php7", level, s.worker(), f"{s.client()} {message}")]


def _fpm(s: Server) -> list[str]:
    return [s.line("proxy_fcgi", "error", s.worker(),
                   f"{s.client()} AH01071: Got error 'Primary script unknown'")]


def _established(s: Server) -> list[str]:
    child = s.rng.randrange(0, 75)
    return [s.line("ssl", "info", s.worker(), f"{s.client()} AH01964: Connection to child {child} "
                   f"established (server {s.rng.choice(_HOSTS)})")]


def _cipher(s: Server) -> list[str]:
    protocol, cipher, bits = s.rng.choice(_SUITES)
    return [s.line("ssl", "debug", s.worker(), f"ssl_engine_kernel.c(2393): {s.client()} AH02041: "
                   f"Protocol: {protocol}, Cipher: {cipher} ({bits} bits)")]


def _socache(s: Server) -> list[str]:
    return [s.line("socache_shmcb", "debug", s.worker(),
                   f"mod_socache_shmcb.c(508): AH00830: socache_shmcb_store "
                   f"(0x{s.rng.randrange(256):02x} -> subcache {s.rng.randrange(32)})")]


# (weight, event): a busy TLS site with LogLevel info ssl:debug-ish verbosity.
ROUTINE: tuple[tuple[float, Event], ...] = (
    (20.0, _established), (18.0, _cipher), (18.0, _missing), (14.0, _php), (8.0, _denied),
    (7.0, _fpm), (5.0, _socache), (0.02, _graceful), (0.005, _stop_start),
)


# -- the mod_ssl problems ------------------------------------------------------------------


def _problem_event(problems: Sequence[Problem], weights: Sequence[float]) -> Event:
    def event(s: Server) -> list[str]:
        if s.rng.random() < 0.15:
            return _handshake_pair(s)
        p = s.rng.choices(problems, cum_weights=weights)[0]
        module = f"mpm_{s.mpm}" if p.module.startswith("mpm_") else p.module
        # Start-up failures come from the parent; everything else from a child thread.
        startup = p.level in ("emerg", "crit") or module.startswith("mpm_")
        who = s.master() if startup else s.worker()
        rest = _CLIENT.sub(lambda _m: s.client(), p.rest)
        return [f"[{s.stamp()}] [{module}:{p.level}] {who}{rest}"]

    return event


def _handshake_pair(s: Server) -> list[str]:
    """AH02008 then the OpenSSL reason, same pid and tid (LogLevel info, OpenSSL 3)."""
    who = s.worker()
    first = s.line("ssl", "info", who, f"{s.client()} AH02008: SSL library error 1 in handshake "
                   f"(server {s.rng.choice(_HOSTS)})")
    s.now += s.rng.uniform(0.00001, 0.0002)
    return [first, s.line("ssl", "info", who,
                          "SSL Library Error: error:0A00010B:SSL routines::wrong version number")]


# -- generation ----------------------------------------------------------------------------


def generate(lines: int, seed: int = 1, ssl_share: float = 0.03, mpm: Mpm = "event",
             content: Path = DEFAULT_CONTENT) -> Iterator[str]:
    """Yield exactly ``lines`` log lines (without newline), deterministically for a seed."""
    if not 0.0 <= ssl_share <= 1.0:
        raise ValueError("ssl_share must be between 0 and 1")
    rng = Random(seed)
    server = Server(rng, mpm)
    problems = problem_templates(content) if ssl_share > 0 else []
    if ssl_share > 0 and not problems:
        raise ValueError(f"{content}: no Apache 2.4 example lines in any ```kb block")
    problem = _problem_event(problems, _cumulative([p.weight for p in problems]))
    routine = [event for _, event in ROUTINE]
    routine_cum = _cumulative([w for w, _ in ROUTINE])
    first = _startup(server)[:lines]
    yield from first
    made = len(first)
    while made < lines:
        server.tick()
        if rng.random() < ssl_share:
            batch = problem(server)
        else:
            batch = rng.choices(routine, cum_weights=routine_cum)[0](server)
        yield from batch[: lines - made]
        made += len(batch)


def _startup(s: Server, ssl: bool = True) -> list[str]:
    return [s.line(f"mpm_{s.mpm}", "notice", s.master(), _version(s, ssl)),
            s.line("core", "notice", s.master(), "AH00094: Command line: '/usr/sbin/apache2'")]


# -- the shipped sample (examples/error.log) ------------------------------------------------

_KEY = "/etc/ssl/private/www.example.com.key"
_CRT = "/etc/ssl/certs/www.example.com.crt"
_HTACCESS = ("/var/www/html/.htaccess: Invalid command 'SSLEngine', perhaps misspelled or defined "
             "by a module not included in the server configuration")

# One story, hand-placed between generated routine lines: SSL directives in .htaccess before
# mod_ssl is loaded; after `a2enmod ssl` the start fails three times (port taken, encrypted
# key, key of another certificate), then the site runs and clients run into TLS problems.
# Each step: (routine lines before it, [(module, level, who, message)]); "who" is "master"
# (the parent: start-up messages), "restart" (a new parent a minute later: a new start) or
# "worker" (one child thread for the whole step).
STORY: tuple[tuple[int, tuple[tuple[str, str, str, str], ...]], ...] = (
    (30, (("core", "alert", "worker", "{client} " + _HTACCESS),)),
    (25, (("core", "alert", "worker", "{client} " + _HTACCESS),)),
    (8, (("mpm_event", "notice", "master", "AH00169: caught SIGTERM, shutting down"),
         ("core", "crit", "restart", "(98)Address already in use: AH00072: make_sock: could "
                                     "not bind to address [::]:443"),
         ("core", "crit", "master", "(98)Address already in use: AH00072: make_sock: could not "
                                    "bind to address 0.0.0.0:443"),
         ("mpm_event", "alert", "master", "AH00451: no listening sockets available, shutting "
                                          "down"))),
    (0, (("ssl", "error", "restart", "AH02578: Init: Unable to read pass phrase [Hint: key "
                                     "introduced or changed before restart?]"),
         ("ssl", "emerg", "master", "SSL Library Error: error:1C800064:Provider routines::bad "
                                    "decrypt"),
         ("ssl", "emerg", "master", "AH02564: Failed to configure encrypted (?) private key "
                                    "www.example.com:443:0, check " + _KEY))),
    (0, (("ssl", "emerg", "restart", f"AH02565: Certificate and private key "
                                     f"www.example.com:443:0 from {_CRT} and {_KEY} do not match"),
         ("ssl", "emerg", "master", "SSL Library Error: error:05800074:x509 certificate "
                                    "routines::key values mismatch"))),
    (0, (("ssl", "warn", "restart", "AH01909: www.example.com:443:0 server certificate does NOT "
                                    "include an ID which matches the server name"),
         ("mpm_event", "notice", "master", "AH00489: Apache/2.4.62 (Debian) OpenSSL/3.0.15 "
                                           "configured -- resuming normal operations"),
         ("core", "notice", "master", "AH00094: Command line: '/usr/sbin/apache2'"))),
    (20, (("ssl", "info", "worker", "{client} AH01996: SSL handshake failed: HTTP spoken on HTTPS "
                                    "port; trying to send HTML error page"),)),
    (25, (("ssl", "info", "worker", "{client} AH02008: SSL library error 1 in handshake (server "
                                    "www.example.com:443)"),
          ("ssl", "info", "worker", "SSL Library Error: error:0A0000C1:SSL routines::no shared "
                                    "cipher -- Too restrictive SSLCipherSuite or using DSA server "
                                    "certificate?"))),
    (20, (("ssl", "error", "worker", "{client} AH02032: Hostname shop.example.com provided via SNI "
                                     "and hostname www.example.com provided via HTTP have no "
                                     "compatible SSL setup"),)),
    (25, (("ssl", "info", "worker", "{client} AH02008: SSL library error 1 in handshake (server "
                                    "www.example.com:443)"),
          ("ssl", "info", "worker", "SSL Library Error: error:0A000415:SSL routines::sslv3 alert "
                                    "certificate expired (SSL alert number 45)"))),
    (20, (("ssl", "info", "worker", "{client} AH01996: SSL handshake failed: HTTP spoken on HTTPS "
                                    "port; trying to send HTML error page"),)),
    (30, (("ssl", "error", "worker", "{client} AH02032: Hostname shop.example.com provided via SNI "
                                     "and hostname www.example.com provided via HTTP have no "
                                     "compatible SSL setup"),)),
    (25, (("ssl", "info", "worker", "{client} AH02008: SSL library error 1 in handshake (server "
                                    "www.example.com:443)"),
          ("ssl", "info", "worker", "SSL Library Error: error:0A00010B:SSL routines::wrong "
                                    "version number"))),
    (40, ()),
)
_PLAIN: tuple[tuple[float, Event], ...] = ((18.0, _missing), (14.0, _php), (8.0, _denied),
                                           (7.0, _fpm))
_TLS = tuple(item for item in ROUTINE if item[1] not in (_graceful, _stop_start))


def sample(seed: int = 2024) -> list[str]:
    """The shipped examples/error.log: generated routine lines around the hand-placed STORY."""
    rng = Random(seed)
    server = Server(rng, "event")
    out = _startup(server, ssl=False)
    events: tuple[tuple[float, Event], ...] = _PLAIN  # mod_ssl is not loaded at first
    for before, step in STORY:
        for _ in range(before):
            server.tick()
            out += rng.choices([e for _, e in events], [w for w, _ in events])[0](server)
        worker = server.worker()
        for module, level, who, message in step:
            server.now += rng.uniform(0.0001, 0.002)
            if who == "restart":
                server.now += rng.uniform(20.0, 90.0)  # the admin edits, then starts again
                server.restart(full=True)
            pid = worker if who == "worker" else server.master()
            out.append(server.line(module, level, pid, message.format(client=server.client())))
            if message.startswith("AH00489"):
                events = _TLS  # mod_ssl runs now: TLS lines join the routine traffic
    return out


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def write_log(out: Path, lines: int, seed: int = 1, ssl_share: float = 0.03,
              mpm: Mpm = "event", content: Path = DEFAULT_CONTENT) -> int:
    """Write the log to ``out``; returns the number of lines written."""
    count = 0
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        batch: list[str] = []
        for line in generate(lines, seed, ssl_share, mpm, content):
            batch.append(line)
            if len(batch) >= 10_000:
                handle.write("\n".join(batch) + "\n")
                count += len(batch)
                batch = []
        if batch:
            handle.write("\n".join(batch) + "\n")
            count += len(batch)
    return count


def realistic_lines(lines: int, seed: int = 1, templates: int = 0) -> list[str]:
    """The lines of ``--realistic`` (``templates``: the cardinality sweep of K templates)."""
    import realistic_log

    if templates:
        return list(realistic_log.templates(lines, templates, seed))
    return list(realistic_log.realistic(lines, seed))


def _write_lines(out: Path, lines: Iterator[str]) -> None:
    with (sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8", newline="\n")) as h:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 10_000:
                h.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            h.write("\n".join(batch) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, metavar="OUT", help="file to write ('-': stdout)")
    p.add_argument("--lines", type=int, default=1_000_000, help="lines to write (default 1e6)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--ssl-share", type=float, default=0.03,
                   help="share of lines that are mod_ssl problems (default 0.03)")
    p.add_argument("--mpm", choices=("event", "prefork"), default="event",
                   help="MPM whose pid/tid shape and notices to write (default event)")
    p.add_argument("--content", type=Path, default=DEFAULT_CONTENT,
                   help="FAQ folder whose example lines to use (default: content/)")
    p.add_argument("--realistic", action="store_true",
                   help="a log with production variety (see scripts/realistic_log.py)")
    p.add_argument("--templates", type=int, default=0, metavar="K",
                   help="with --realistic: exactly K distinct templates, each in turn")
    p.add_argument("--sample", action="store_true",
                   help="write the shipped examples/error.log instead (a fixed story of "
                        "start-up and TLS problems amid routine lines; ignores the other options)")
    args = p.parse_args(argv)
    if args.sample:
        text = "\n".join(sample()) + "\n"
        if str(args.out) == "-":
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
        return 0
    if args.lines < 0:
        p.error("--lines must be >= 0")
    if args.realistic:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import realistic_log

        made = (realistic_log.templates(args.lines, args.templates, args.seed) if args.templates
                else realistic_log.realistic(args.lines, args.seed))
        _write_lines(args.out, made)
        return 0
    if str(args.out) == "-":
        for line in generate(args.lines, args.seed, args.ssl_share, args.mpm, args.content):
            sys.stdout.write(line + "\n")
        return 0
    write_log(args.out, args.lines, args.seed, args.ssl_share, args.mpm, args.content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
