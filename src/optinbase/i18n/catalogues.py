"""The catalogues: one gettext .po file per language, read once per process."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from optinbase.i18n.language import FALLBACK, LANGUAGES

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue(language: str) -> Catalog:
    """The .po file as Babel reads it (what the tests compare)."""
    with po_path(language).open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


@functools.cache
def translations(language: str) -> Translations:
    """gettext translations of `language`, built in memory from its .po (fuzzy
    entries are left out, as a compiled .mo would). A message missing from a
    catalogue falls back to English; the tests keep both complete."""
    if language not in LANGUAGES:
        language = FALLBACK
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language), use_fuzzy=False)
    compiled.seek(0)
    result = Translations(compiled, domain=DOMAIN)
    if language != FALLBACK:
        result.add_fallback(translations(FALLBACK))
    return result
