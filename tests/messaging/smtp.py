"""A real SMTP server (aiosmtpd) on a free loopback port, collecting messages."""

from __future__ import annotations

import email
import email.policy
import socket
import time
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = _Collect()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Message]:
        return self.handler.messages

    def start(self) -> "SmtpServer":
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
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
