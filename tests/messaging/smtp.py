"""A real SMTP server (aiosmtpd) on a free port, collecting messages: the raw
bytes it received (`raw`: what a mail client would get) and, for convenience,
the same parsed by Python. Optionally offers STARTTLS or speaks implicit TLS
with a certificate of a throw-away CA (`make_ca`, made with the openssl
command)."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Optional

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # envelope.content: the bytes as they came over the wire
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)


class ParsedMail(EmailMessage):
    """A received message as Python parses it; `get_content()` of a
    multipart/alternative e-mail is its plain-text part (what a test reads
    links from), `html()` its HTML part. Assert on `raw` for the bytes."""

    def get_content(self, *args, **kw):
        if self.is_multipart():
            return self.get_body(("plain",)).get_content(*args, **kw)
        return super().get_content(*args, **kw)

    def html(self) -> str:
        part = self.get_body(("html",))
        return part.get_content() if part is not None and part.get_content_subtype() == "html" else ""


_PARSE = email.policy.default.clone(message_factory=ParsedMail)


class _Collect:
    def __init__(self, answers: list[str]) -> None:
        self.received: list[Received] = []
        self.answers = answers  # scripted answers to DATA (e.g. greylisting), then 250

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      bytes(envelope.original_content or envelope.content),
                                      server.transport.get_extra_info("ssl_object") is not None))
        return self.answers.pop(0) if self.answers else "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1",
                 starttls: Optional[ssl.SSLContext] = None,
                 implicit_tls: Optional[ssl.SSLContext] = None, answers: list[str] = ()):
        self.host = host
        self.port = port or free_port(host)
        self.handler = _Collect(list(answers))
        self.starttls, self.implicit_tls = starttls, implicit_tls
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def messages(self) -> list[Message]:
        """Parsed by Python (lenient: it decodes encoded-words); assert on `raw` for headers."""
        return [email.message_from_bytes(r.raw, policy=_PARSE) for r in self.handler.received]

    def start(self) -> "SmtpServer":
        options = {}
        if self.starttls is not None:
            options = {"tls_context": self.starttls, "require_starttls": False}
        self._controller = Controller(self.handler, hostname=self.host, port=self.port,
                                      ssl_context=self.implicit_tls, server_hostname=self.host,
                                      **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mail_to(self, address: str, count: int = 1, seconds: float = 20) -> list[Message]:
        """The messages sent to `address`, once `count` of them have arrived
        (waiting up to `seconds`): other tests' mail may reach the same server."""
        deadline = time.monotonic() + seconds
        while True:
            mine = [m for m in self.messages if m["To"] == address]
            if len(mine) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(mine) >= count, f"{count} e-mail(s) to {address} expected, {len(mine)} arrived"
        return mine

@dataclass
class Ca:
    cafile: Path
    certfile: Path
    keyfile: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context


def make_ca(directory: Path, ips: tuple[str, ...] = ("127.0.0.1",)) -> Ca:
    """A CA and a server certificate for `ips` (and localhost), with openssl."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=smtp.test",
        "-keyout", "server.key", "-out", "server.csr")
    names = ",".join(["DNS:localhost", *(f"IP:{ip}" for ip in ips)])
    (directory / "san.cnf").write_text(f"subjectAltName={names}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem")
    return Ca(directory / "ca.pem", directory / "server.pem", directory / "server.key")
