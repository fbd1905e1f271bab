"""Structured logs: one JSON object a line on standard error, never personal data.

Every line carries `time`, `level`, `logger`, `message`, and — when the work
belongs to a request — its `request_id` (also on the worker's lines about a
message that request queued: the id travels in the outbox payload). Extra
fields given with `extra={"fields": {...}}` are added as keys (the request
line: method, route template, status, duration, tenant id).

**No personal data.** Log calls in this code base write ids, counts and
route templates, never addresses, phones, names, IPs or links with tokens.
As a second wall, every line (message and traceback) goes through `redact`,
which masks e-mail addresses, international phone numbers, IP addresses other
than loopback, the tokens of subscriber links (`/p/confirm/<token>` …) and API
key secrets — an SMTP server's refusal quoting the recipient, say, is logged
without it.

Quiet by default: `LOG_LEVEL` (default `INFO` for `serve` and `worker`,
`WARNING` for the other commands) — one line per request, one per unit of
bulk work (an outbox pass that sent something, an import).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import logging.config
import os
import re
from typing import Any, Optional

import msgspec

request_id: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "optinbase_request_id", default=None)

def tagged(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload carrying the current request's id, if any: the
    worker's log lines about the message then name the request that queued it."""
    current = request_id.get()
    return {**payload, "request_id": current} if current else payload


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"\+[1-9][\d .()-]{6,18}\d")
_IPV4 = re.compile(r"(?<![\d.])(?!127\.0\.0\.1(?![\d.]))(?!0\.0\.0\.0(?![\d.]))"
                   r"(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
                   r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}:)*"
                   r"[0-9A-Fa-f]{1,4})(?![\w:])")
# Path segments after which the rest of a subscriber link is a bearer token.
_TOKEN_LINK = re.compile(r"(/p/(?:confirm|preferences|unsubscribe|keep|requests/(?:verify|status"
                         r"|package))/)[^\s\"'<>?#]+")
_API_KEY = re.compile(r"\bobk_[A-Za-z0-9_-]+")


# Everything masked holds one of these: most lines ("request") hold none.
_SUSPECT = re.compile(r"[@\d:/_]")


def redact(text: str) -> str:
    """`text` without anything that could name a subscriber (see module doc)."""
    if not _SUSPECT.search(text):
        return text
    text = _TOKEN_LINK.sub(r"\1<token>", text)
    text = _API_KEY.sub("obk_<redacted>", text)
    text = _EMAIL.sub("<email>", text)
    text = _IPV6.sub("<ip>", text)
    text = _IPV4.sub("<ip>", text)
    return _PHONE.sub("<phone>", text)


_ENCODER = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per record (uvicorn's records too)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": redact(record.getMessage()),
        }
        current = request_id.get()
        if current:
            line["request_id"] = current
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return _ENCODER.encode(line).decode()


def level(default: str = "INFO") -> str:
    value = os.environ.get("LOG_LEVEL", default).upper()
    return value if value in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else default


def _library_level(own: str) -> str:
    return "INFO" if own == "DEBUG" else own


def config(default: str = "INFO") -> dict[str, Any]:
    """`logging.config.dictConfig` settings: every logger (uvicorn's included)
    writes JSON lines to standard error; uvicorn's access log stays off (the
    app writes its own request line). Passed to uvicorn as `log_config`, so
    each of its worker processes applies it too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "optinbase.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        # LOG_LEVEL is Optinbase's own; libraries never log below INFO (at DEBUG
        # aiosqlite and asyncpg write query arguments: personal data).
        "root": {"handlers": ["stderr"], "level": _library_level(level(default))},
        "loggers": {
            "optinbase": {"level": level(default)},
            "aiosqlite": {"level": "WARNING"},
            "piccolo": {"level": "WARNING"},  # "Running Postgres version …" on every start
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # httpx logs every webhook POST at INFO, with its URL: per row, not wanted.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure(default: str = "INFO") -> None:
    """Applies `config()` to this process. Commands pass `WARNING`: their
    standard error is for the one-line reason and progress, not for routine
    lines (`LOG_LEVEL` still wins)."""
    logging.config.dictConfig(config(default))
    # Lines carry no file or line number: skip the stack walk every record
    # would make to find them (the logging documentation's "Optimization").
    logging._srcfile = None  # type: ignore[attr-defined]
