"""Log understanding: one real line per shape, OpenSSL forms across versions, masks."""

from __future__ import annotations

import pytest

from kb.logline import Kind, parse, parse_line
from kb.openssl import find_errors, unpack

SHAPES = [
    # (line, shapes, fields subset, message start)
    ("[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 1234:tid 5678] [client 1.2.3.4:5678] "
     "AH02039: Certificate Verification: Error (20): unable to get local issuer certificate",
     ["apache24"], {"module": "ssl", "level": "error", "pid": "1234", "tid": "5678",
                    "client": "1.2.3.4:5678"}, "AH02039: Certificate"),
    ("[Fri Jan 09 17:22:13.370617 2015] [ssl:debug] [pid 4570] ssl_engine_kernel.c(1844): "
     "[client 192.168.56.1:54654] AH02041: Protocol: TLSv1.2",
     ["apache24"], {"source": "ssl_engine_kernel.c(1844)", "client": "192.168.56.1:54654"},
     "AH02041: Protocol"),
    ("[Fri Jan 09 17:21:58.429298 2015] [ssl:info] [pid 4559] (70007)The timeout specified has "
     "expired: [client 192.168.56.1:54653] AH01991: SSL input filter read failed.",
     ["apache24"], {"level": "info"}, "(70007)The timeout specified has expired: AH01991"),
    ("[Tue Mar 05 10:12:01 2004] [error] [client 1.2.3.4] Invalid method in request "
     "\\x16\\x03\\x01",
     ["apache22"], {"level": "error", "client": "1.2.3.4"}, "Invalid method"),
    ("Mar  5 10:12:01 host httpd[123]: AH00526: Syntax error on line 64 of /etc/httpd.conf:",
     ["syslog"], {"host": "host", "program": "httpd", "pid": "123"}, "AH00526: Syntax"),
    ("2024-03-05T10:12:01.123456+01:00 web1 apache2[77]: [Tue Mar 05 10:12:01.123456 2024] "
     "[ssl:emerg] [pid 77] AH02572: Failed to configure at least one certificate and key",
     ["syslog", "apache24"], {"program": "apache2", "module": "ssl", "level": "emerg"},
     "AH02572: Failed"),
    ("2019/05/09 22:23:48 [info] 5182#0: *5543 peer closed connection in SSL handshake (104: "
     "Connection reset by peer) while SSL handshaking, client: 203.0.113.7, server: 0.0.0.0:443",
     ["nginx"], {"level": "info", "pid": "5182", "connection": "5543", "client": "203.0.113.7"},
     "peer closed connection"),
    ('nginx: [emerg] cannot load certificate "/etc/ssl/a.crt": BIO_new_file() failed',
     ["nginx"], {"level": "emerg"}, "cannot load certificate"),
    ("Mar  5 10:12:01 web1 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:443 failed (98: "
     "Address already in use)", ["syslog", "nginx"], {"program": "nginx", "level": "emerg"},
     "bind() to"),
    ('203.0.113.9 - - [26/Nov/2015:14:10:37 +0100] "\\x16\\x03\\x01" 400 226',
     ["accesslog"], {"client": "203.0.113.9", "status": "400"}, '"\\x16'),
    # PHP's own error log (main/main.c: "PHP %s:  %s"), and as mod_php writes it unprefixed
    ("[05-Mar-2024 10:12:01 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function "
     "mysql_connect() in /var/www/a.php:3", ["php"],
     {"level": "error", "time": "05-Mar-2024 10:12:01 UTC"}, "Uncaught Error"),
    ("PHP Warning:  PHP Startup: Unable to load dynamic library 'x.so' (tried: /usr/lib/x.so)",
     ["php"], {"level": "warn"}, "PHP Startup:"),
    ("PHP   2. require() /var/www/index.php:17", ["php"], {"level": "notice"}, "require()"),
]


@pytest.mark.parametrize(("line", "shapes", "fields", "start"), SHAPES)
def test_shapes(line: str, shapes: list[str], fields: dict[str, str], start: str) -> None:
    parsed = parse_line(line)
    assert parsed.shapes == shapes
    assert fields.items() <= parsed.fields.items()
    assert parsed.message.startswith(start)


SAME = [
    "error:14094412:SSL routines:SSL3_READ_BYTES:sslv3 alert bad certificate",
    "error:14094412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate",
    "error:0A000412:SSL routines::sslv3 alert bad certificate",
    "error:0A000412:SSL routines::ssl/tls alert bad certificate",
    "SSL routines::sslv3 alert bad certificate",  # without "error:HEX:", as some print it
    "TLS failed: SSL routines:SSL3_READ_BYTES:sslv3 alert bad certificate",
    "SSL alert number 42",
    "ssl.SSLError: [SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:897)",
    "14094412",
    "0A000412",
]


@pytest.mark.parametrize("text", SAME)
def test_openssl_forms_mean_the_same(text: str) -> None:
    (error,) = find_errors(text)
    assert (error.lib, error.reason) == ("SSL", "sslv3 alert bad certificate")


def test_packed_codes_across_versions() -> None:
    assert unpack(0x1408A0C1) == ("SSL", "no shared cipher")  # 1.x: lib << 24
    assert unpack(0x0A0000C1) == ("SSL", "no shared cipher")  # 3.x: lib << 23
    assert unpack(336109761) == unpack(0x1408A0C1)
    assert unpack(0x80000002) == ("SYS", "errno 2")
    (error,) = find_errors("Error from bufferevent: 0:- 336109761:193:no shared cipher:20:SSL")
    assert error.reason == "no shared cipher"


def test_a_form_without_its_code_needs_a_library_openssl_names() -> None:
    assert [e.lib for e in find_errors("x509 certificate routines:X509_check_private_key:key "
                                       "values mismatch")] == ["X509"]
    assert find_errors("my routines::certificate verify failed") == []
    assert find_errors("SSL routines: certificate verify failed") == []  # no function field


def test_verify_and_tuple_forms() -> None:
    assert find_errors("verify error:num=20:unable to get local issuer certificate")[0].reason == (
        "unable to get local issuer certificate")
    tuple_form = "[('SSL routines','SSL3_GET_CLIENT_HELLO', 'no shared cipher')]"
    assert find_errors(tuple_form)[0].reason == "no shared cipher"


def test_certificate_details_are_not_read_as_openssl_errors() -> None:
    """mod_ssl's "[subject: ... / serial: ...]" holds a client's certificate fields: a serial
    that looks like a packed code and a subject that spells an error are no OpenSSL errors
    (they were: the serial 0A000415 read as "certificate expired" alert)."""
    line = ("[Tue Mar 05 10:12:01.123456 2024] [ssl:info] [pid 7:tid 8] [client 1.2.3.4:5] "
            "AH02276: Certificate Verification: Error (20): unable to get local issuer "
            "certificate [subject: CN=error:0A000086:SSL routines::certificate verify failed"
            " / issuer: CN=CA 1 / serial: 0A000415 / notbefore: Mar  5 10:12:01 2024 GMT / "
            "notafter: Mar  5 10:12:01 2025 GMT] SSL alert number 48")
    parsed = parse_line(line)
    assert [e.reason for e in parsed.openssl] == ["unable to get local issuer certificate",
                                                  "tlsv1 alert unknown ca"]
    assert parsed.template.endswith("[<cert>] SSL alert number 48")
    assert [e.reason for e in find_errors("serial: 0A000415")] == [
        "sslv3 alert certificate expired"]  # outside the details it is one


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("how do I remove the pass phrase?", Kind.QUESTION),
        ("pass phrase at startup", Kind.QUESTION),
        ("Enter PEM pass phrase:", Kind.LOG),
        ("no listening sockets available, shutting down", Kind.TEXT),
        ("[Tue Mar 05 10:12:01 2004] [error] x", Kind.LOG),
        # wget's message: "C=US" in the issuer is a country, not the pronoun of a question
        ("ERROR: cannot verify www.example.com's certificate, issued by 'CN=R3,O=Let's "
         "Encrypt,C=US': Issued certificate has expired.", Kind.LOG),
        ("SEVERE: Failed to initialize end point associated with ProtocolHandler", Kind.LOG),
        ("[WARN] unable to load the certificate for us", Kind.LOG),
        ("Error: how do I get rid of this warning?", Kind.QUESTION),
        ("Can one IP serve two sites with different certificates? Only one works.",
         Kind.QUESTION),
        # httpd 2.0's "!?" is no question (TEXT keeps exact signals at full weight)
        ("RSA server certificate CommonName (CN) `a' does NOT match server name!?", Kind.TEXT),
        ("GET /index.php?id=1 HTTP/1.1 400 broken pipe", Kind.LOG),
        ("can you tell us why apache asks for a pass phrase", Kind.QUESTION),
    ],
)
def test_kind(text: str, kind: Kind) -> None:
    assert parse(text).kind is kind


@pytest.mark.parametrize(("stamp", "expected"), [
    ("05-Mar-2024 10:12:01 UTC", "2024-03-05T10:12:01+00:00"),  # PHP's error_log
    ("05-Mar-2024 10:12:01 Europe/Berlin", "2024-03-05T10:12:01"),  # a named zone: local
    ("31-Feb-2024 10:12:01 UTC", None),  # not a day
    # Digits are ASCII: a time in other digits sorted among real ones by code point (review)
    ("Tue Mar 05 07:52:50.123 2024", "2024-03-05T07:52:50.123"),
    ("Tue Mar 05 07:5\u0662:50.123 2024", None),
    ("2024/03/05 10:12:0\u0661", None),
    ("2024-03-05T10:1\u0662:01", None),
])
def test_php_timestamps(stamp: str, expected: str | None) -> None:
    from kb.timestamps import iso

    assert iso(stamp) == expected


def test_the_memo_keeps_recent_keys_and_is_bounded() -> None:
    from kb.memo import Recent

    memo: Recent[int, str] = Recent(8)
    for key in range(100):
        memo.put(key, str(key))
        memo.get(0)  # used all along: never dropped
        assert len(memo) <= 8
    assert memo.get(0) == "0"
    assert [memo.get(k) for k in range(96, 100)] == ["96", "97", "98", "99"]  # the last half
    assert memo.get(50) is None
    memo.clear()
    assert memo.get(99) is None and len(memo) == 0


def test_a_message_first_read_without_its_template_gets_it_later() -> None:
    from kb.logline import parse_line
    from kb.masks import mask

    line = ("[Tue Mar 05 10:12:01.123456 2024] [ssl:info] [pid 7:tid 8] [client 203.0.113.9:5] "
            "AH02008: SSL library error 1 in handshake (server w41.example.org:443)")
    lite = parse_line(line, template=False)
    assert lite.ah_codes == ["AH02008"]
    full = parse_line(line)
    assert full.template == mask(full.message) != ""
    assert parse_line(line, template=False).template == full.template  # now remembered


def test_a_message_first_read_without_its_errors_gets_them_later() -> None:
    """``template=False`` leaves OpenSSL errors undecoded (the log pipe's outcome lines hold
    none); a full read of the same message afterwards decodes them, from the memo or not."""
    from kb import logline
    from kb.logline import parse_line
    from kb.memo import MAX_TEXT

    logline._messages.clear()
    line = ("[Tue Mar 05 10:12:01.123456 2024] [ssl:info] [pid 7:tid 8] [client 203.0.113.9:5] "
            "SSL Library Error: error:0A000126:SSL routines::unexpected eof while reading")
    assert parse_line(line, template=False).openssl == []
    full = parse_line(line)
    assert [e.reason for e in full.openssl] == ["unexpected eof while reading"]
    assert parse_line(line, template=False).openssl == full.openssl  # now remembered
    long = line + " (" + "x" * MAX_TEXT + ")"  # not remembered
    assert parse_line(long, template=False).openssl == []
    assert [e.reason for e in parse_line(long).openssl] == ["unexpected eof while reading"]


def test_long_messages_are_not_remembered() -> None:
    """The memos are bounded in bytes: 16,384 distinct 8 KB messages held 240 MB."""
    from kb import logline
    from kb.memo import MAX_TEXT

    logline._messages.clear()
    long = "AH02565: Certificate and private key " + "x1 " * MAX_TEXT + "do not match"
    assert logline.understand_message(long)[1] == ("AH02565",)
    assert len(logline._messages) == 0
    logline.understand_message("AH02565: Certificate and private key do not match")
    assert len(logline._messages) == 1
