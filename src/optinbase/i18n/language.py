"""Which language a page or an e-mail speaks: decided here and nowhere else."""

from __future__ import annotations

from typing import Any, Iterable, Optional

LANGUAGES = ("fr", "en")
FALLBACK = "en"
_MOST_RANGES = 32  # a header is a few languages; a hostile one is not read further


def supported(tag: Any) -> Optional[str]:
    """The supported language of a locale or language tag (`fr-FR`, `fr_CA`,
    `EN`), or None."""
    if not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def accepted_languages(header: Optional[str]) -> list[str]:
    """The language ranges of an `Accept-Language` header (RFC 9110 §12.5.4),
    most wanted first (weight, then order); `q=0` means "not this one"."""
    ranges = []
    for position, item in enumerate((header or "").split(",")[:_MOST_RANGES]):
        tag, _, parameters = item.strip().partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if tag.strip() and weight > 0:
            ranges.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranges)]


def choose(tenant: Any = None, *, person: Optional[Iterable[Optional[str]]] = None,
           accept_language: Optional[str] = None) -> str:
    """The language of one page or one e-mail.

    `person`: the locales the person gave, best first (a contact's `locale`
    then `language`; a request's `locale`) — pass it whenever the page or
    e-mail concerns a known person, even if they gave none. Only when nobody is
    known does the browser's `accept_language` count (the subscribe and
    request forms, an error page). Then the tenant's `default_locale`, then
    English. The notice itself is always shown in the language it was
    written in: this chooses everything around it."""
    candidates: list[Any] = list(person) if person is not None else accepted_languages(
        accept_language)
    if tenant is not None:
        candidates.append((getattr(tenant, "settings", None) or {}).get("default_locale"))
    for candidate in candidates:
        language = supported(candidate)
        if language:
            return language
    return FALLBACK
