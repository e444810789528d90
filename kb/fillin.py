"""Remedies in the user's own terms: the host, port, files and client a log line names, put into
the commands of an answer in place of the answer's example values.

Answers show commands with documentation values (``www.example.com``, ``/etc/ssl/certs/
www.example.com.crt``, ``/etc/ssl/private/www.example.com.key``, ``443``). When the log line
names the real ones (``AH02565: Certificate and private key shop.example.org:8443:0 from
/etc/apache2/ssl/shop.crt and /etc/apache2/ssl/shop.key do not match``), the report shows the
commands with those. Only inside fenced code blocks, only where the line names exactly one
value of that kind, and every value is quoted for a POSIX shell (``shlex.quote``): a value is
never executed, and a crafted one (``$(reboot)``, spaces, quotes) stays one inert argument.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

# Values in a log message: a vhost "host:port[:n]", "(server host:port)", file paths.
_VHOST = re.compile(r"(?<![\w.-])((?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}):(\d{1,5})(?::\d+)?\b")
_PATH = re.compile(r"(?<![\w.])(/(?:[\w.@%+~-]+/)*[\w.@%+~-]+)")
_CERT_SUFFIXES = (".crt", ".pem", ".cer", ".der", ".cert")
_KEY_SUFFIXES = (".key",)
# The documentation values answers use (RFC 2606 names), by kind.
_EXAMPLE_HOST = re.compile(r"\b(?:www\.)?example\.(?:com|org|net)\b")
_EXAMPLE_CERT = re.compile(r"(?<![\w./-])/[\w./-]*example\.(?:com|org|net)[\w.-]*"
                           r"\.(?:crt|pem|cer)\b|(?<![\w./-])(?:server|cert)\.(?:crt|pem)\b")
_EXAMPLE_KEY = re.compile(r"(?<![\w./-])/[\w./-]*example\.(?:com|org|net)[\w.-]*\.key\b"
                          r"|(?<![\w./-])server\.key\b")
_SHELLS = frozenset({"sh", "bash", "shell", "console", "zsh", ""})
_PLAIN = re.compile(r"[\w./@%+~:-]+")  # needs no quoting anywhere
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)


@dataclass
class Values:
    """What a log line names: one host, port, certificate and key file each, or none."""

    host: str = ""
    port: str = ""
    cert: str = ""
    key: str = ""
    used: list[str] = field(default_factory=list)  # "certificate /etc/..." for the report

    def __bool__(self) -> bool:
        return bool(self.host or self.cert or self.key)


def values_from(message: str) -> Values:
    """The values a log message names (a kind named twice, differently, is left out)."""
    hosts = {(m.group(1), m.group(2)) for m in _VHOST.finditer(message)}
    paths = {m.group(1) for m in _PATH.finditer(message)}
    certs = {p for p in paths if p.lower().endswith(_CERT_SUFFIXES)}
    keys = {p for p in paths if p.lower().endswith(_KEY_SUFFIXES)}
    values = Values()
    if len({h for h, _ in hosts}) == 1:
        values.host = next(iter(hosts))[0]
        ports = {p for _, p in hosts}
        values.port = next(iter(ports)) if len(ports) == 1 else ""
    values.cert = next(iter(certs)) if len(certs) == 1 else ""
    values.key = next(iter(keys)) if len(keys) == 1 else ""
    return values


def _const(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement that inserts ``text`` as it is (no backslash or group expansion)."""
    return lambda _match: text


def fill(markdown: str, values: Values) -> str:
    """``markdown`` with its code blocks' example values replaced by ``values`` (quoted for a
    shell); ``values.used`` says what was filled in."""
    if not values:
        return markdown
    used: dict[str, str] = {}

    def block(match: re.Match[str]) -> str:
        text = match.group()
        info = text.split("\n", 1)[0].strip("`~ ").split(" ")[0].lower()
        shell = info in _SHELLS
        for kind, pattern, value in (("certificate", _EXAMPLE_CERT, values.cert),
                                     ("key", _EXAMPLE_KEY, values.key),
                                     ("host", _EXAMPLE_HOST, values.host)):
            if not value or not pattern.search(text):
                continue
            if not shell and not _PLAIN.fullmatch(value):
                continue  # a configuration file would need its own quoting: leave it
            quoted = shlex.quote(value) if shell else value
            if kind == "host" and values.port and values.port != "443":
                with_port = f"{quoted}:{values.port}"
                text = re.sub(rf"(?:{pattern.pattern}):443\b", _const(with_port), text)
                used[kind] = f"{value}:{values.port}"
            else:
                used.setdefault(kind, value)
            text = pattern.sub(_const(quoted), text)
        return text

    filled = _FENCE.sub(block, markdown)
    values.used = [f"{kind} {value}" for kind, value in used.items()]
    return filled
