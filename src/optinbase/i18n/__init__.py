"""The one home of texts and language (French and English).

* `choose` decides the language of a page or an e-mail, once: the person's
  locale when the person is known, else the browser's `Accept-Language` (a
  page with no known person), else the tenant's `default_locale`, else English.
  Callers decide it once per page or e-mail and pass the result down.
* `texts(language, tenant)` is that language's catalogue, bound to the
  tenant's time zone: `texts.gettext("confirm.title")`, with named values
  (`texts.gettext("confirm.intro", tenant=..., purpose=...)`) formatted the
  language's way — dates in the tenant's time zone and the person's language,
  French elision written in the catalogue itself (`{tenant:de}` → "d'Acme").
* Every user-facing string of the subscriber pages, their e-mails and the
  errors a subscriber can see is a message of `locales/<language>/LC_MESSAGES/
  messages.po` (gettext catalogues, Babel's tooling: `make messages` extracts
  the ids from src/ and updates both files). Message ids are symbolic
  (`mail.confirm.subject`), so the English wording is a translation like the
  French one and both catalogues must be complete (tests/optinbase/
  test_catalogues.py fails otherwise).

Why .po read at start-up rather than compiled .mo files: the catalogues are a
hundred-odd short messages (Babel's `read_po` reads both in 85 ms, once per
process, when the app is built), nothing generated has to be committed or rebuilt, and
a fresh clone's `make run` (an editable install) has nothing extra to do. At
run time each catalogue is a `babel.support.Translations` (gettext), built in
memory from the .po with Babel's own `write_mo`.
"""

from optinbase.i18n.catalogues import LOCALES, translations
from optinbase.i18n.language import FALLBACK, LANGUAGES, accepted_languages, choose
from optinbase.i18n.texts import N_, Texts, texts
from optinbase.i18n.zones import default_time_zone, is_time_zone, time_zone_of

__all__ = [
    "FALLBACK", "LANGUAGES", "LOCALES", "N_", "Texts", "accepted_languages", "choose",
    "default_time_zone", "is_time_zone", "texts", "time_zone_of", "translations",
]
