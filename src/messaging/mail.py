"""Turning an outbox row into an e-mail and handing it to SMTP (or the log)."""

from __future__ import annotations

import email.utils
import logging
from email.message import EmailMessage
from typing import Any, Optional
from urllib.parse import urlparse

import aiosmtplib

logger = logging.getLogger("optinbase.mail")


class DeliveryError(Exception):
    """The message could not be handed over; it will be retried."""


def build_message(sender: str, recipient: str, subject: str, payload: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = payload.get("message_id") or email.utils.make_msgid(domain="optinbase")
    for name, value in (payload.get("headers") or {}).items():
        message[name] = value
    message.set_content(payload.get("text", ""))
    return message


class SmtpMailer:
    """Sends through the server named by SMTP_URL (smtp://host:port)."""

    status = "sent"

    def __init__(self, url: str, timeout: float = 30.0):
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port")
        self.host = parsed.hostname
        self.port = parsed.port or (465 if parsed.scheme == "smtps" else 25)
        self.use_tls = parsed.scheme == "smtps"
        self.username: Optional[str] = parsed.username
        self.password: Optional[str] = parsed.password
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, use_tls=self.use_tls,
                start_tls=False, username=self.username, password=self.password,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


class LogMailer:
    """Development without SMTP_URL: the e-mail is logged and stays in the outbox."""

    status = "logged"

    async def send(self, message: EmailMessage) -> None:
        logger.info("e-mail (not sent, no SMTP_URL) to %s: %s\n%s", message["To"],
                    message["Subject"], message.get_content())


def mailer_for(smtp_url: str) -> SmtpMailer | LogMailer:
    return SmtpMailer(smtp_url) if smtp_url else LogMailer()
