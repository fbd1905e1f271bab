"""A tenant's look on its subscriber pages and e-mails, read from its settings
(`logo_url`, `primary_color`, `accent_color`, `footer_text`, `sender_name`,
`reply_to`), with colours made safe to read.

A tenant picks its brand colours; WCAG 2.1 AA (1.4.3) still wants 4.5:1 for
text. So the colour used for links and headings is the brand colour darkened
until it reaches 4.5:1 on white, and a button's label is black or white,
whichever contrasts more with the button (one of them always reaches 4.5:1).
Without settings the pages keep their own designed defaults."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from typing import Any, Optional

DEFAULT_PRIMARY = "#0b4f9c"
DEFAULT_ACCENT = "#f2b800"
_HEX = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")
_WEB = re.compile(r"\Ahttps?://[^\s\x00-\x1f\x7f\"'<>\\]+\Z")


def web_url(value: Any) -> str:
    """`value` if it is an http(s) URL, else "": settings are checked when
    written (tenants.schemas), and again here, where they reach an href or a
    src, in case a row was written some other way."""
    return value if isinstance(value, str) and _WEB.match(value) else ""


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of `#rrggbb`."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on_white(colour: str, ratio: float = 4.5) -> str:
    """`colour`, darkened step by step until text in it reads on white."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    current = colour.lower()
    while contrast(current, "#ffffff") < ratio:
        r, g, b = (int(v * 0.9) for v in (r, g, b))
        current = f"#{r:02x}{g:02x}{b:02x}"
    return current


def label_on(colour: str) -> str:
    """Black or white: whichever reads better on `colour`."""
    return "#000000" if contrast(colour, "#000000") >= contrast(colour, "#ffffff") else "#ffffff"


def _legacy_name(sender: Any) -> str:
    """The name part of the older `sender` setting: "Acme <a@b.example>" →
    "Acme"; a bare name is the name; a bare address has none."""
    if not isinstance(sender, str) or not sender.strip():
        return ""
    if "<" in sender:
        return email.utils.parseaddr(sender)[0]
    return "" if "@" in sender else sender.strip()


def _colour(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _HEX.match(value) else default


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str
    primary: str  # the button's background, as the tenant chose it
    on_primary: str  # the button's label colour
    ink: str  # links and headings: the primary colour, readable on white
    accent: str  # decoration only (the header's band), never text
    footer_text: str
    sender_name: str
    reply_to: str
    branded: bool  # the tenant set any of it


def brand_of(tenant: Optional[Any]) -> Brand:
    """The brand of `tenant` (a TenantRecord), or Optinbase's own without one."""
    settings = (getattr(tenant, "settings", None) or {}) if tenant is not None else {}
    primary = _colour(settings.get("primary_color"), DEFAULT_PRIMARY)
    keys = ("logo_url", "primary_color", "accent_color", "footer_text")
    return Brand(
        name=tenant.name if tenant is not None else "Optinbase",
        logo_url=web_url(settings.get("logo_url")),
        primary=primary,
        on_primary=label_on(primary),
        ink=readable_on_white(primary),
        accent=_colour(settings.get("accent_color"), DEFAULT_ACCENT),
        footer_text=str(settings.get("footer_text") or ""),
        sender_name=str(settings.get("sender_name") or _legacy_name(settings.get("sender"))),
        reply_to=str(settings.get("reply_to") or ""),
        branded=any(settings.get(k) for k in keys),
    )
