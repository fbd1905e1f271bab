"""Turning an outbox row into the exact bytes of an e-mail, and handing them to
SMTP (or the log).

Headers are written here, not by Python's e-mail policy, because the policy
(and aiosmtplib, which flattens with `email.policy.SMTP` whatever the message's
own policy) folds a long header holding one token — a URL — into RFC 2047
encoded-words: `List-Unsubscribe: =?utf-8?q?=3Chttp…?=` is no URI to Gmail or
Yahoo, and RFC 8058 one-click unsubscribe silently stops working. So:

* headers carrying URIs, addresses or identifiers (List-Unsubscribe,
  List-Unsubscribe-Post, Message-ID, Content-Language, To, and the address part
  of From/Reply-To) go out as plain ASCII on one line (RFC 5322 allows 998
  characters; longer is refused, never folded inside a token);
* text meant for people (Subject, display names) is encoded as RFC 2047
  encoded-words only when it is not ASCII (Python's SMTP policy, 78-column
  folding at whitespace, encoded-words of at most 75 characters);
* a line break or NUL in any header value is never sent: such a message is
  `Undeliverable` (the outbox marks it dead at once, nobody else's mail waits).

The body is a text/plain UTF-8 MIME part serialised by Python (7bit or
quoted-printable), so body lines are never too long either; with `html`, the
body is multipart/alternative: that text part first, the HTML part last
(messaging.branded builds it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import email.utils
import ipaddress
import logging
import os
import ssl
import uuid
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import aiosmtplib

from optinbase.settings import get_settings

logger = logging.getLogger("optinbase.mail")

MAX_LINE = 998
_SMTP = email.policy.SMTP  # CRLF, 78 columns: for encoded text only

# Headers whose values are URIs, addresses, identifiers or tokens: plain ASCII, one line.
PLAIN_HEADERS = frozenset({
    "list-unsubscribe", "list-unsubscribe-post", "list-id", "list-help", "list-subscribe",
    "list-post", "list-owner", "list-archive", "message-id", "in-reply-to", "references",
    "content-language", "auto-submitted", "precedence", "x-auto-response-suppress",
})
ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
# Written by `render` itself; a payload may not set them.
OWN_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version",
                         "content-type", "content-transfer-encoding", "bcc"})


class DeliveryError(Exception):
    """The message could not be handed over this time; it will be retried."""


class Undeliverable(DeliveryError):
    """The message can never be sent as it is (a line break in a header, an
    address that cannot be written in ASCII...): retrying cannot help."""


def _no_breaks(name: str, value: str) -> None:
    if any(c in value for c in "\r\n\x00"):
        raise Undeliverable(f"the {name} header would contain a line break or NUL")


def _ascii_line(name: str, value: str) -> str:
    _no_breaks(name, value)
    if not value.isascii() or not value.isprintable():
        raise Undeliverable(f"the {name} header must be printable ASCII (it carries a URI or address)")
    line = f"{name}: {value}"
    if len(line) > MAX_LINE:
        raise Undeliverable(f"the {name} header is longer than {MAX_LINE} characters")
    return line + "\r\n"


def _text_line(name: str, value: str) -> str:
    """Text for people: as it is when ASCII and short enough, else RFC 2047
    encoded-words where needed, folded at whitespace."""
    _no_breaks(name, value)
    if value.isascii() and value.isprintable() and len(name) + 2 + len(value) <= MAX_LINE:
        return f"{name}: {value}\r\n"
    return _SMTP.header_factory(name, value).fold(policy=_SMTP)


def ascii_address(address: str, what: str = "address") -> str:
    """An addr-spec as SMTP needs it: ASCII, the domain in IDNA form. A
    non-ASCII local part would need SMTPUTF8, which is not used: undeliverable."""
    _no_breaks(what, address)
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or any(c in address for c in " <>,;\"\\"):
        raise Undeliverable(f"the {what} {address!r} is not an e-mail address")
    if not local.isascii():
        raise Undeliverable(f"the {what} has a non-ASCII local part (SMTPUTF8 is not used)")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise Undeliverable(f"the {what}'s domain is not a valid internationalised name") from None
    return f"{local}@{domain}"


def mailbox(value: str, what: str = "sender") -> tuple[str, str]:
    """`Name <addr>` or `addr` → (display name, ASCII addr-spec)."""
    _no_breaks(what, value)
    name, address = email.utils.parseaddr(value)
    if not address:
        raise Undeliverable(f"the {what} {value!r} is not an e-mail address")
    return name, ascii_address(address, what)


def _address_line(name: str, display: str, address: str) -> str:
    """The address part stays plain ASCII; a display name is quoted, or
    encoded (RFC 2047) when it is not ASCII — on one line either way."""
    if not display:
        return _ascii_line(name, address)
    _no_breaks(name, display)
    if display.isascii():
        rendered = email.utils.formataddr((display, address))
    else:
        words = Header(display, "utf-8").encode(linesep=" ", maxlinelen=76)
        rendered = f"{words} <{address}>"
    return _ascii_line(name, rendered)


@dataclass(frozen=True)
class Rendered:
    """An e-mail ready for SMTP: envelope and the exact bytes."""

    sender: str  # envelope MAIL FROM
    recipient: str  # envelope RCPT TO
    subject: str
    text: str
    data: bytes


def render(sender: str, recipient: str, subject: str, payload: dict[str, Any], *,
           message_id: Optional[str] = None, date: Optional[str] = None,
           html: Optional[str] = None, envelope_from: Optional[str] = None) -> Rendered:
    """The bytes of one e-mail (see the module's docstring for the rules);
    raises Undeliverable for what can never be sent. `envelope_from`: the
    SMTP MAIL FROM (where bounces go) when it is not the From address."""
    display, from_address = mailbox(sender)
    to_address = ascii_address(recipient, "recipient")
    lines = [
        _address_line("From", display, from_address),
        _ascii_line("To", to_address),
        _text_line("Subject", subject),
        _ascii_line("Date", date or email.utils.formatdate(usegmt=True)),
        _ascii_line("Message-ID", message_id or email.utils.make_msgid(
            domain=from_address.rpartition("@")[2])),
    ]
    for name, value in (payload.get("headers") or {}).items():
        if not name or not name.isascii() or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise Undeliverable(f"{name!r} is not a header name")
        key = name.lower()
        if key in OWN_HEADERS:
            raise Undeliverable(f"the {name} header is written by the mailer itself")
        if key in ADDRESS_HEADERS:
            lines.append(_address_line(name, *mailbox(str(value), name)))
        elif key in PLAIN_HEADERS:
            lines.append(_ascii_line(name, str(value)))
        else:
            lines.append(_text_line(name, str(value)))
    text = payload.get("text", "")
    body = EmailMessage(policy=_SMTP)
    body.set_content(text)  # Content-Type, Content-Transfer-Encoding, MIME-Version
    if html:
        body.add_alternative(html, subtype="html")  # now multipart/alternative
    data = "".join(lines).encode("ascii") + body.as_bytes(policy=_SMTP)
    bounce = ascii_address(envelope_from, "envelope sender") if envelope_from else from_address
    return Rendered(sender=bounce, recipient=to_address, subject=subject, text=text,
                    data=data)


# --- SMTP ---------------------------------------------------------------------

TLS_MODES = ("starttls", "none")


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpMailer:
    """Sends through the server named by SMTP_URL, reusing one connection for
    the messages of a worker pass.

    * `smtp://host[:port]` (port 25): STARTTLS, required unless the host is a
      loopback address or `localhost` (then used when the server offers it);
    * `smtp://host:port?tls=starttls`: STARTTLS required, also on loopback;
    * `smtp://host:port?tls=none`: never TLS (a relay on a trusted network);
      refused with credentials unless the host is loopback;
    * `smtps://host[:port]` (port 465): TLS from the first byte.
    Credentials go in the URL (`smtp://user:password@host:587`). Certificates
    are always verified; `cafile=/path/ca.pem` trusts a private CA.
    """

    status = "sent"

    def __init__(self, url: str, timeout: float = 30.0):
        parsed = urlsplit(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        try:
            port = parsed.port
        except ValueError:
            raise ValueError("SMTP_URL has an invalid port") from None
        query = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        unknown = set(query) - {"tls", "cafile"}
        if unknown:
            raise ValueError(f"SMTP_URL: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.host = parsed.hostname
        self.implicit_tls = parsed.scheme == "smtps"
        self.port = port or (465 if self.implicit_tls else 25)
        self.username: Optional[str] = parsed.username
        self.password: Optional[str] = parsed.password
        self.cafile: Optional[str] = query.get("cafile") or None
        self.timeout = timeout
        tls = query.get("tls", "")
        if tls and tls not in TLS_MODES:
            raise ValueError(f"SMTP_URL: tls must be one of {', '.join(TLS_MODES)}")
        if self.implicit_tls and tls:
            raise ValueError("SMTP_URL: smtps:// is TLS already; drop the tls parameter")
        loopback = _is_loopback(self.host)
        if tls == "none" and self.username and not loopback:
            raise ValueError("SMTP_URL: credentials are never sent without TLS (tls=none)")
        # aiosmtplib: True = required, None = when offered, False = never.
        self.start_tls: Optional[bool] = (
            False if self.implicit_tls or tls == "none"
            else True if tls == "starttls" or not loopback
            else None
        )
        self._client: Optional[aiosmtplib.SMTP] = None
        self._tls: Optional[ssl.SSLContext] = None

    def _tls_context(self) -> ssl.SSLContext:
        """Built once per mailer: loading the CAs costs ~30 ms of CPU, which
        every reconnection (servers drop idle clients) would pay again. A
        changed `cafile` is read at the next start."""
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.cafile)
        return self._tls

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.noop()  # still there? (servers drop idle clients)
                return self._client
            except (aiosmtplib.SMTPException, OSError):
                await self.close()
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, use_tls=self.implicit_tls,
            start_tls=self.start_tls, tls_context=self._tls_context(),
            username=self.username, password=self.password, timeout=self.timeout,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, message: Rendered) -> None:
        try:
            client = await self._connection()
            errors, _ = await client.sendmail(message.sender, [message.recipient], message.data)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            await self.close()
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if errors:
            raise DeliveryError(f"recipient refused: {errors}")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # a broken connection is closed either way
                client.close()


class LogMailer:
    """Development without SMTP_URL: the e-mail stays in the outbox (status
    `logged`) and its exact bytes are written to `MAIL_DIR` (one `.eml` file
    each, readable by any mail client) — never to the log, which must hold no
    address or link."""

    status = "logged"

    def __init__(self, directory: Optional[str] = None) -> None:
        self.directory = Path(directory or get_settings().mail_dir)

    async def send(self, message: Rendered) -> None:
        name = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.eml"
        await asyncio.to_thread(self._write, self.directory / name, message.data)
        logger.debug("e-mail kept in the mail folder (no SMTP_URL)", extra={"fields": {"file": name}})

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)

    async def close(self) -> None:
        pass


def mailer_for(smtp_url: str) -> SmtpMailer | LogMailer:
    return SmtpMailer(smtp_url) if smtp_url else LogMailer()
