"""A tenant's e-mail as people see it: who it is from, where replies go, and
an HTML alternative in the tenant's colours beside the plain text.

Dressed when the worker sends (not when queued), from the tenant's settings
of that moment (tenants.branding): a new logo applies to mail still waiting,
and the outbox keeps only the text it always kept.

* From: consent mail comes from the tenant's `sender_name` at the address of
  its `sender` setting when that holds one (`Acme <news@acme.example>`),
  else at MAIL_FROM's address; data-subject request mail (queued with
  `sender="dpo"`) comes from the DPO — `dpo_name` (else "<controller> DPO")
  at the tenant's `dpo_email` — never from the marketing sender.
* Whenever From is not MAIL_FROM's address, the message says who sent it
  (`Sender:` MAIL_FROM, RFC 5322 §3.6.2) and bounces go to MAIL_FROM's
  address (SMTP MAIL FROM): the operator's domain, where SPF is set up.
* Reply-To: the tenant's `reply_to`; for request mail its `dpo_email`. A
  Reply-To the message already carries wins.
* HTML: the plain text, escaped, its paragraphs and line breaks kept, its
  URLs made links, in a table layout with inline styles (what mail clients
  render), the logo, the brand colours (contrast-checked) and the footer
  text. The plain text part stays first and complete (RFC 2046: the last
  alternative is the preferred one, so the HTML comes last).
"""

from __future__ import annotations

import email.utils
import html
import re
from typing import Any, Optional

from messaging.mail import Undeliverable, mailbox
from tenants.branding import Brand, brand_of

DPO = "dpo"
_URL = re.compile(r"https?://[^\s<>\"']+")


def _address(value: Any) -> str:
    """The address of a mailbox setting ("Name <a@b.example>" or "a@b.example"),
    "" when there is none or it could not be sent (a bad setting must not
    make the tenant's mail undeliverable: MAIL_FROM's address is used)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    try:
        return mailbox(value, "sender")[1]
    except Undeliverable:
        return ""


def sender(mail_from: str, tenant: Optional[Any], payload: dict[str, Any]) -> str:
    """The From of one message (see the module's docstring)."""
    name, address = email.utils.parseaddr(mail_from)
    if tenant is None:
        return mail_from
    settings = tenant.settings or {}
    if payload.get("sender") == DPO:
        name = settings.get("dpo_name") or f"{tenant.legal_name or tenant.name} DPO"
        address = _address(tenant.dpo_email) or address
    else:
        name = brand_of(tenant).sender_name or name
        address = _address(settings.get("sender")) or address
    if not name:
        return address
    # Quoted as it is: mail.render encodes a non-ASCII name itself (RFC 2047
    # words inside a quoted string would never be decoded).
    quoted = str(name).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def reply_to(tenant: Optional[Any], payload: dict[str, Any]) -> str:
    if tenant is None:
        return ""
    if payload.get("sender") == DPO:
        return tenant.dpo_email or ""
    return brand_of(tenant).reply_to


def _linked(paragraph: str, ink: str) -> str:
    out, last = [], 0
    for match in _URL.finditer(paragraph):
        url = match.group(0).rstrip(".,;:)")
        end = match.start() + len(url)
        out.append(html.escape(paragraph[last:match.start()]))
        out.append(f'<a href="{html.escape(url)}" style="color:{ink};word-break:break-all">'
                   f"{html.escape(url)}</a>")
        last = end
    out.append(html.escape(paragraph[last:]))
    return "".join(out).replace("\n", "<br>\n")


def html_body(text: str, tenant: Optional[Any], language: str = "") -> str:
    """The HTML alternative of `text` in `tenant`'s brand."""
    brand: Brand = brand_of(tenant)
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p]
    body = "\n".join(
        f'<p style="margin:0 0 16px">{_linked(p, brand.ink)}</p>'
        for p in paragraphs)
    if brand.logo_url:
        head = (f'<img src="{html.escape(brand.logo_url)}" alt="{html.escape(brand.name)}"'
                ' height="48" style="display:block;max-height:48px;border:0">')
    else:
        head = (f'<span style="font-size:20px;font-weight:bold;color:#1b1b1b">'
                f"{html.escape(brand.name)}</span>")
    footer = html.escape(brand.footer_text).replace("\n", "<br>\n")
    if tenant is not None:
        settings = tenant.settings or {}
        who = html.escape(tenant.legal_name or tenant.name)
        address = html.escape(str(settings.get("address") or "")).replace("\n", ", ")
        footer = "<br>\n".join(x for x in (footer, who + (f" — {address}" if address else "")) if x)
    lang = f' lang="{html.escape(language)}"' if language else ""
    return f"""<!doctype html>
<html{lang}>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(brand.name)}</title></head>
<body style="margin:0;padding:0;background:#f5f6f8">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f5f6f8">
<tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;background:#ffffff;border:1px solid #c9ced6;border-top:6px solid {brand.accent}">
<tr><td style="padding:20px 24px;border-bottom:1px solid #c9ced6">{head}</td></tr>
<tr><td style="padding:24px;font:16px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1b1b1b">
{body}
</td></tr>
</table>
<p style="max-width:600px;margin:16px auto 0;font:13px/1.5 system-ui,Arial,sans-serif;color:#4a4a4a">{footer}</p>
</td></tr>
</table>
</body>
</html>
"""
