"""A language's catalogue, with values formatted the way that language writes them."""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import zoneinfo
from typing import Any

from babel.dates import format_date, format_time, get_timezone_location

from optinbase.i18n import french
from optinbase.i18n.catalogues import translations
from optinbase.i18n.language import FALLBACK, LANGUAGES
from optinbase.i18n.zones import time_zone_of

# Per language, the format specs a catalogue may put after a value's name.
_PARTICLES = {"fr": french.PARTICLES, "en": {}}


@functools.lru_cache(maxsize=1024)
def _plain(text: str) -> bool:
    """No `{name:spec}` in the message (its values are filled as they are)."""
    return not _SPEC.search(text)


_SPEC = re.compile(r"\{[^{}:]*:[^{}]*\}")


def N_(msgid: str) -> str:
    """Marks a message id for extraction where it is named, not yet translated
    (a domain error's text, a table of names): gettext's `gettext_noop`."""
    return msgid


class _Formatter(string.Formatter):
    """`str.format` with the language's rules: a datetime becomes a date and
    time in the tenant's zone (`{due:date}`: the date alone); in French,
    `{tenant:de}` (`le`, `la`, `que`...) puts the particle, elided when the
    value begins with a vowel sound."""

    def __init__(self, texts: "Texts") -> None:
        self.texts = texts

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, dt.datetime):
            return self.texts.date(value) if format_spec == "date" else self.texts.datetime(value)
        if isinstance(value, dt.date):
            return self.texts.date(value)
        particles = _PARTICLES[self.texts.language]
        if format_spec in particles:
            return french.elide(format_spec, str(value))
        return format(value, format_spec)


class Texts:
    """The messages of one language, bound to one time zone (the tenant's)."""

    def __init__(self, language: str, zone: zoneinfo.ZoneInfo) -> None:
        self.language = language if language in LANGUAGES else FALLBACK
        self.zone = zone
        self._translations = translations(self.language)
        self._formatter = _Formatter(self)

    def gettext(self, msgid: str, /, **values: Any) -> str:
        """The message `msgid` in this language, its `{names}` filled with `values`."""
        text = self._translations.gettext(msgid)
        if not values:
            return text
        if _plain(text) and not any(isinstance(v, dt.date) for v in values.values()):
            return text.format_map(values)  # nothing to elide or write out: str.format's speed
        return self._formatter.vformat(text, (), values)

    __call__ = gettext

    def _local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:  # stored times are UTC
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(self.zone)

    def date(self, moment: dt.date | dt.datetime | str) -> str:
        """A day, written out: "4 décembre 2026", "December 4, 2026"."""
        if isinstance(moment, str):  # SQLite may hand a computed time back as text
            moment = dt.datetime.fromisoformat(moment)
        if isinstance(moment, dt.datetime):
            moment = self._local(moment).date()
        written = format_date(moment, "long", locale=self.language)
        if self.language == "fr" and moment.day == 1 and written.startswith("1 "):
            written = "1er" + written[1:]  # le 1er janvier
        return written

    def datetime(self, moment: dt.datetime | str) -> str:
        """A day and a time in the tenant's zone, saying which zone:
        "4 décembre 2026 à 10:30 (heure de Paris)"."""
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        local = self._local(moment)
        return self.gettext("format.datetime", date=self.date(local),
                            time=format_time(local, "short", locale=self.language),
                            zone=self.zone_name())

    def zone_name(self) -> str:
        city = get_timezone_location(self.zone, locale=self.language, return_city=True)
        if self.zone.key in ("UTC", "Etc/UTC", "GMT") or self.zone.key.startswith("Etc/"):
            return city  # "UTC", "GMT+3": no city to name
        return self.gettext("format.zone.city", city=city)


@functools.cache
def _texts(language: str, zone: str) -> Texts:
    return Texts(language, zoneinfo.ZoneInfo(zone))


def texts(language: str, tenant: Any = None) -> Texts:
    """The catalogue of `language` (chosen by `optinbase.i18n.choose`), dates in
    the tenant's time zone (UTC without one)."""
    return _texts(language if language in LANGUAGES else FALLBACK, time_zone_of(tenant).key)
