"""A multi-tenant Apache 2.4 error log with production variety (``make_log.py --realistic``).

``make_log.py``'s default log is the best case for a log pipe: its variables are digits
(IPv4 clients from a small pool, ports, pids) and its TLS problems are the FAQ's own lines.
This one is what a busy shared host writes: many modules (core, proxy, proxy_fcgi, rewrite
traces, authz, auth_basic, ModSecurity, http2, mpm_event, ssl), IPv4 and IPv6 clients,
thousands of virtual host names, backend service names, user names, URLs with UUIDs and
query strings, mod_rewrite's request ids, certificate subjects and serials, and about
``tls_share`` of the lines TLS failures (the AH02008 + "SSL Library Error" pair httpd writes
at LogLevel info, in OpenSSL 3 and 1.1.1 spellings; verify errors with subjects; SNI
mismatches; proxy handshake failures), plus ``unique_share`` of lines whose text occurs
nowhere else (PHP fatal errors, ModSecurity matched data, upstream bodies).

Message formats are httpd 2.4's (modules/ssl/ssl_engine_*.c, modules/proxy, server/, the
APLOGNO strings); OpenSSL errors are built from kb/data/openssl_reasons.tsv (OpenSSL 3 packs
lib 20 << 23 | reason; 1.1.1 lib 20 << 24 | func << 12 | reason, with the functions that
print them). ``templates`` turns it into a cardinality sweep: exactly min(K, lines) distinct
templates (20 forms, 6 of them TLS, times a letters-only word no mask removes).
Deterministic for a seed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from random import Random
from typing import Any

START = 1709633521  # Tue Mar 05 10:12:01 2024 UTC
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYLLABLES = ("ba", "be", "bi", "co", "da", "de", "fa", "fo", "ga", "gi", "hu", "ja", "ju", "ka",
              "ki", "lo", "lu", "ma", "me", "mu", "na", "no", "pa", "pi", "ra", "ri", "ro",
              "sa", "se", "su", "ta", "te", "to", "va", "vi", "xe", "za", "zu")
_TLDS = ("com", "net", "org", "io", "de", "fr", "nl", "co.uk", "shop", "app", "dev")
# (OpenSSL 3 reason code, text, 1.1.1 function code, name): reasons httpd logs for failed
# handshakes, with the function OpenSSL 1.1.1 names for them.
_REASONS = (
    (1048, "tlsv1 alert unknown ca", 0x94, "ssl3_read_bytes"),
    (1046, "sslv3 alert certificate unknown", 0x94, "ssl3_read_bytes"),
    (1042, "sslv3 alert bad certificate", 0x94, "ssl3_read_bytes"),
    (1045, "sslv3 alert certificate expired", 0x94, "ssl3_read_bytes"),
    (1040, "sslv3 alert handshake failure", 0x94, "ssl3_read_bytes"),
    (1070, "tlsv1 alert protocol version", 0x94, "ssl3_read_bytes"),
    (1080, "tlsv1 alert internal error", 0x94, "ssl3_read_bytes"),
    (193, "no shared cipher", 0x17A, "tls_post_process_client_hello"),
    (267, "wrong version number", 0x8F, "ssl3_get_record"),
    (156, "http request", 0x8F, "ssl3_get_record"),
    (258, "unsupported protocol", 0x209, "tls_early_post_process_client_hello"),
    (118, "no suitable signature algorithm", 0x17A, "tls_post_process_client_hello"),
    (199, "peer did not return a certificate", 0x17D, "tls_process_client_certificate"),
    (160, "length too short", 0x8F, "ssl3_get_record"),
    (294, "unexpected eof while reading", 0, ""),
)
_VERIFY = ((10, "certificate has expired"), (18, "self-signed certificate"),
           (19, "self-signed certificate in certificate chain"),
           (20, "unable to get local issuer certificate"),
           (21, "unable to verify the first certificate"))


class _Random(Random):
    """Random with randint and choice as 3.11 computes them, without their argument checks
    (the same numbers, the log generated in a third less time)."""

    def randint(self, a: int, b: int) -> int:
        return a + self._randbelow(b - a + 1)  # type: ignore[attr-defined, no-any-return]

    def choice(self, seq: Any) -> Any:
        return seq[self._randbelow(len(seq))]  # type: ignore[attr-defined]


class _World:
    """The names, clients and clock of one generated server."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.vhosts = [self._host() for _ in range(3000)]
        self.services = [f"{self._word(2)}-{rng.choice(('svc', 'api', 'app', 'web'))}"
                         for _ in range(300)]
        self.users = [self._word(rng.randint(1, 3)) for _ in range(5000)]
        self.pids = [rng.randint(2000, 99999) for _ in range(24)]
        self.now = float(START)
        self._second, self._day_time, self._year = -1, "", ""

    def _word(self, syllables: int) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(syllables))

    def _host(self) -> str:
        return f"{self._word(2)}.{self._word(2)}.{self.rng.choice(_TLDS)}"

    def time(self) -> str:
        self.now += self.rng.expovariate(1 / 0.004)
        whole = int(self.now)
        if whole != self._second:  # ~250 lines a second: each second is formatted once
            t = time.gmtime(whole)
            self._second = whole
            self._day_time = (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
                              f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
            self._year = f" {t.tm_year}"
        micros = int((self.now - whole) * 1_000_000)
        return f"{self._day_time}.{micros:06d}{self._year}"

    def client(self) -> str:
        r = self.rng
        if r.random() < 0.15:
            return (f"2001:db8:{r.randint(0, 65535):x}::{r.randint(1, 65535):x}:"
                    f"{r.randint(1024, 65535)}")
        return (f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}."
                f"{r.randint(1, 254)}:{r.randint(1024, 65535)}")

    def prefix(self, module: str, level: str, pid: int | None = None) -> str:
        pid = pid or self.rng.choice(self.pids)
        return (f"[{self.time()}] [{module}:{level}] [pid {pid}:tid "
                f"{self.rng.randint(139_900_000_000_000, 139_999_999_999_999)}]")

    def url(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.3:
            what = r.choice(("orders", "items", "users"))
            return f"/api/v{r.randint(1, 3)}/{what}/{uuid.UUID(int=r.getrandbits(128))}"
        if kind < 0.6:
            return (f"/wp-content/uploads/20{r.randint(15, 24)}/{r.randint(1, 12):02d}/"
                    f"{self._word(2)}.jpg")
        return f"/{self._word(2)}.php?id={r.randint(1, 99999)}&q={self._word(3)}"

    def subject(self) -> str:
        r = self.rng
        cn = "_".join(self._word(2) for _ in range(r.randint(1, 5)))
        unit = r.choice(("Staff", "Contractors", "Partners"))
        return (f"[subject: CN={cn},OU={unit},O=Example Corp / issuer: CN=Example Issuing CA "
                f"{r.randint(1, 3)},O=Example Corp / serial: {r.getrandbits(64):016X} / "
                f"notbefore: {self._cert_date()} / notafter: {self._cert_date()}]")

    def _cert_date(self) -> str:
        r = self.rng
        return (f"{r.choice(_MONTHS)} {r.randint(1, 28):2d} {r.randint(0, 23):02d}:"
                f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d} {r.randint(2020, 2027)} GMT")


def _openssl(w: _World) -> str:
    code, text, func, name = w.rng.choice(_REASONS)
    if not func or w.rng.random() < 0.6:
        return f"error:{(20 << 23) | code:08X}:SSL routines::{text}"
    return f"error:{(20 << 24) | (func << 12) | code:08X}:SSL routines:{name}:{text}"


def _tls_pair(w: _World) -> list[str]:
    pid, client, host = w.rng.choice(w.pids), w.client(), w.rng.choice(w.vhosts)
    lines = []
    if w.rng.random() < 0.4:
        lines.append(f"{w.prefix('ssl', 'info', pid)} [client {client}] AH01964: Connection to "
                     f"child {w.rng.randint(0, 400)} established (server {host}:443)")
    lines.append(f"{w.prefix('ssl', 'info', pid)} [client {client}] AH02008: SSL library error "
                 f"1 in handshake (server {host}:443)")
    lines.append(f"{w.prefix('ssl', 'info', pid)} SSL Library Error: {_openssl(w)}")
    if w.rng.random() < 0.3:
        lines.append(f"{w.prefix('ssl', 'info', pid)} [client {client}] AH01998: Connection "
                     f"closed to child {w.rng.randint(0, 400)} with abortive shutdown (server "
                     f"{host}:443)")
    return lines


def _verify(w: _World) -> list[str]:
    number, text = w.rng.choice(_VERIFY)
    code, level = ("AH02039", "error") if w.rng.random() < 0.4 else ("AH02276", "info")
    return [f"{w.prefix('ssl', level)} [client {w.client()}] {code}: Certificate Verification: "
            f"Error ({number}): {text} {w.subject()}"]


def _sni(w: _World) -> list[str]:
    a, b = w.rng.choice(w.vhosts), w.rng.choice(w.vhosts)
    if w.rng.random() < 0.3:
        return [f"{w.prefix('ssl', 'error')} [client {w.client()}] AH02031: Hostname {a} "
                "provided via SNI, but no hostname provided in HTTP request"]
    return [f"{w.prefix('ssl', 'error')} [client {w.client()}] AH02032: Hostname {a} provided "
            f"via SNI and hostname {b} provided via HTTP have no compatible SSL setup"]


def _tls_other(w: _World) -> list[str]:
    r, host, service = w.rng, w.rng.choice(w.vhosts), w.rng.choice(w.services)
    forms = (
        lambda: (
            f"{w.prefix('ssl', 'warn')} AH01909: {host}:443:0 server certificate does NOT include "
            "an ID which matches the server name"),
        lambda: (
            f"{w.prefix('proxy', 'error')} [client {w.client()}] AH02411: SSL Proxy: Peer "
            f"certificate does not match for hostname {service}.corp.example.net"),
        lambda: (
            f"{w.prefix('proxy', 'error')} [client {w.client()}] AH00898: Error during SSL "
            f"Handshake with remote server returned by {w.url()}"),
        lambda: (
            f"{w.prefix('ssl', 'error')} [client {w.client()}] AH02003: SSL Proxy connect failed"),
        lambda: (
            f"{w.prefix('ssl', 'info')} [client {w.client()}] AH01991: SSL input filter read "
            "failed."),
        lambda: (
            f"{w.prefix('ssl', 'error')} AH01941: stapling_renew_response: responder error"),
        lambda: (
            f"{w.prefix('ssl', 'error')} AH02565: Certificate and private key {host}:443:0 from "
            f"/etc/letsencrypt/live/{host}/fullchain.pem and /etc/letsencrypt/live/{host}/"
            "privkey.pem do not match"),
    )
    return [r.choice(forms)()]


def _routine(w: _World) -> list[str]:
    r, host, client = w.rng, w.rng.choice(w.vhosts), w.client()
    forms = (
        lambda: (
            f"{w.prefix('core', 'error')} [client {client}] AH00128: File does not exist: "
            f"/var/www/{host}/public{w.url().split('?')[0]}"),
        lambda: (
            f"{w.prefix('authz_core', 'error')} [client {client}] AH01630: client denied by server "
            f"configuration: /var/www/{host}/public/"
            f"{r.choice(('.env', 'wp-config.php.bak', '.git/config'))}"),
        lambda: (
            f"{w.prefix('proxy_fcgi', 'error')} [client {client}] AH01071: Got error 'Primary "
            "script unknown'"),
        lambda: (
            f"{w.prefix('proxy', 'error')} AH00959: ap_proxy_connect_backend disabling worker for "
            f"({r.choice(w.services)}:{r.choice((3000, 5000, 8080))}) for {r.choice((30, 60))}s"),
        lambda: (
            f"{w.prefix('proxy_http', 'error')} [client {client}] AH01102: error reading status "
            f"line from remote server {r.choice(w.services)}:8080"),
        lambda: (
            f"{w.prefix('auth_basic', 'error')} [client {client}] AH01618: user "
            f"{r.choice(w.users)} not found: /admin"),
        lambda: (
            f"{w.prefix('rewrite', 'trace3')} mod_rewrite.c(480): [client {client}] "
            f"{client.rsplit(':', 1)[0]} - - [{host}/sid#{r.getrandbits(44):x}][rid#"
            f"{r.getrandbits(44):x}/initial] applying pattern '^/(.*)$' to uri '{w.url()}'"),
        lambda: (
            f"{w.prefix('http2', 'debug')} h2_stream.c(1124): [client {client}] AH03082: "
            f"h2_stream({r.randint(1, 99999)}-{r.randint(1, 999)},CLOSED): closing with err=0 "
            "no error"),
        lambda: (
            f"{w.prefix('ssl', 'debug')} ssl_engine_kernel.c(2393): [client {client}] AH02041: "
            f"Protocol: TLSv1.3, Cipher: TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        lambda: (
            f"{w.prefix('mpm_event', 'error')} AH00484: server reached MaxRequestWorkers setting, "
            "consider raising the MaxRequestWorkers setting"),
    )
    return [r.choice(forms)()]


def _unique(w: _World) -> list[str]:
    r, client = w.rng, w.client()
    words = " ".join(w._word(r.randint(1, 4)) for _ in range(r.randint(3, 9)))
    forms = (
        lambda: (
            f"{w.prefix('proxy_fcgi', 'error')} [client {client}] AH01071: Got error "
            "'PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function "
            f"{w._word(3)}_{w._word(2)}() in /var/www/{r.choice(w.vhosts)}/public/"
            f"{w._word(2)}.php:{r.randint(1, 999)}'"),
        lambda: (
            f"{w.prefix('security2', 'error')} [client {client}] ModSecurity: Access denied with "
            f"code 403 (phase 2). Matched \"{words}\" at ARGS:q. "
            f"[id \"{r.randint(900000, 999999)}\"] "
            f"[hostname \"{r.choice(w.vhosts)}\"] "
            f"[uri \"{w.url().split('?')[0]}\"]"),
        lambda: (
            f"{w.prefix('ssl', 'info')} [client {client}] AH02008: SSL library error 1 in "
            f"handshake (server {w._word(3)}.{w._word(2)}.{r.choice(_TLDS)}:443)"),
    )
    return [r.choice(forms)()]


_KINDS: tuple[tuple[float, Callable[[_World], list[str]]], ...] = (
    (0.60, _tls_pair), (0.14, _verify), (0.14, _sni), (0.12, _tls_other))


def realistic(lines: int, seed: int = 1, tls_share: float = 0.3,
              unique_share: float = 0.03) -> Iterator[str]:
    """Yield exactly ``lines`` lines (without newline), deterministically for a seed."""
    rng = _Random(seed)
    world = _World(rng)
    tls = [kind for _, kind in _KINDS]
    weights = [weight for weight, _ in _KINDS]
    made = 0
    while made < lines:
        roll = rng.random()
        if roll < unique_share:
            batch = _unique(world)
        elif roll < unique_share + tls_share / 2.2:  # a TLS event is ~2.2 lines
            batch = rng.choices(tls, weights)[0](world)
        else:
            batch = _routine(world)
        yield from batch[: lines - made]
        made += len(batch)


# The cardinality sweep: forms with a {w} slot that no mask removes.
_SWEEP = (
    "[ssl:info] [pid {pid}] SSL Library Error: error:0A000418:SSL routines::tlsv1 alert unknown "
    "ca ({w})",
    "[ssl:error] [pid {pid}] [client {ip}] AH02039: Certificate Verification: Error (20): "
    "unable to get local issuer certificate [subject: CN={w}]",
    "[ssl:error] [pid {pid}] [client {ip}] AH02032: Hostname {w} provided via SNI and hostname "
    "{w}x provided via HTTP have no compatible SSL setup",
    "[ssl:warn] [pid {pid}] AH01909: {w}:443:0 server certificate does NOT include an ID which "
    "matches the server name",
    "[ssl:info] [pid {pid}] [client {ip}] AH02008: SSL library error 1 in handshake (server {w})",
    "[proxy:error] [pid {pid}] [client {ip}] AH00898: Error during SSL Handshake with remote "
    "server returned by /api for {w}",
    *(f"[{m}:error] [pid {{pid}}] [client {{ip}}] {code}: {text} {{w}}" for m, code, text in (
        ("core", "AH00128", "File does not exist: /var/www"),
        ("authz_core", "AH01630", "client denied by server configuration for"),
        ("proxy_fcgi", "AH01071", "Got error from"),
        ("proxy", "AH00959", "ap_proxy_connect_backend disabling worker"),
        ("proxy_http", "AH01102", "error reading status line from remote server"),
        ("auth_basic", "AH01618", "user not found:"),
        ("core", "AH00124", "Request exceeded the limit of internal redirects at"),
        ("core", "AH00126", "Invalid URI in request"),
        ("proxy", "AH00957", "HTTP: attempt to connect to backend failed:"),
        ("mpm_event", "AH00484", "server reached MaxRequestWorkers setting at"),
        ("http2", "AH10020", "h2_session: stream error at"),
        ("security2", "AH01797", "client denied by rule"),
        ("rewrite", "AH00670", "Options FollowSymLinks and SymLinksIfOwnerMatch are both off"),
        ("ssl", "AH01991", "SSL input filter read failed on"),
    )),
)


def _letters(n: int) -> str:
    """A letters-only word for n (base 26): never a host, number or hex to a mask."""
    out = ""
    n += 26 * 26
    while n:
        n, digit = divmod(n, 26)
        out = "qwertyuiopasdfghjklzxcvbnm"[digit] + out
    return out


def templates(lines: int, distinct: int, seed: int = 1) -> Iterator[str]:
    """``lines`` lines holding exactly min(distinct, lines) templates, each used in turn."""
    rng = _Random(seed)
    world = _World(rng)
    for n in range(lines):
        k = n % distinct
        form = _SWEEP[k % len(_SWEEP)]
        body = form.format(pid=rng.randint(1000, 99999), ip=world.client(),
                           w=_letters(k // len(_SWEEP)))
        yield f"[{world.time()}] {body}"
