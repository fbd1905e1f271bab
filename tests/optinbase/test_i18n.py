"""Language choice, French elision, dates in the tenant's zone (optinbase.i18n),
without a database: what every page and e-mail relies on."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from optinbase import i18n
from optinbase.i18n import french

MOMENT = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.timezone.utc)


def tenant(default_locale: str | None = "fr", country: str = "FR", **settings) -> SimpleNamespace:
    return SimpleNamespace(settings={"default_locale": default_locale, **settings},
                           country=country)


# --- the language of a page or an e-mail --------------------------------------------


def test_the_persons_locale_comes_first_then_the_tenants_default_then_english():
    assert i18n.choose(tenant("fr"), person=("en-GB", None)) == "en"
    assert i18n.choose(tenant("en"), person=(None, "fr")) == "fr"  # locale unset, language fr
    assert i18n.choose(tenant("en"), person=("de-DE", "fr")) == "fr"  # German is not offered
    assert i18n.choose(tenant("fr"), person=(None, None)) == "fr"
    assert i18n.choose(tenant(None), person=(None,)) == "en"
    assert i18n.choose(None) == "en"


def test_the_browser_counts_only_when_nobody_is_known():
    # A known person without a locale gets the tenant's default, whatever the browser says.
    assert i18n.choose(tenant("fr"), person=(None,), accept_language="en") == "fr"
    assert i18n.choose(tenant("fr"), accept_language="en-US,en;q=0.9") == "en"
    assert i18n.choose(tenant("en"), accept_language="fr-CA") == "fr"
    assert i18n.choose(tenant("en"), accept_language="de, es") == "en"  # neither offered
    assert i18n.choose(tenant("fr"), accept_language="") == "fr"


def test_accept_language_weights_order_and_refusals():
    assert i18n.accepted_languages("de-DE,de;q=0.9,fr;q=0.5,en;q=0.8") == [
        "de-DE", "de", "en", "fr"]
    assert i18n.choose(tenant("fr"), accept_language="de-DE,de;q=0.9,fr;q=0.5,en;q=0.8") == "en"
    assert i18n.choose(tenant("en"), accept_language="en;q=0, fr;q=0.1") == "fr"  # q=0: not English
    assert i18n.accepted_languages("fr;q=bogus, en") == ["en"]
    assert i18n.accepted_languages(";q=1, ,") == []
    assert len(i18n.accepted_languages("en," * 10_000)) == 32  # a hostile header is cut short


# --- French elision ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "written"), [
    ("Acme", "d'Acme"), ("ACME", "d'ACME"), ("Électricité de Paris", "d'Électricité de Paris"),
    ("Œuvres sociales", "d'Œuvres sociales"), ("Ulysse", "d'Ulysse"), ("EDF", "d'EDF"),
    ("Hélène Conseil", "d'Hélène Conseil"), ("Hôtel du Port", "d'Hôtel du Port"),  # mute h
    ("Hermès", "d'Hermès"), ("Yves Rocher", "d'Yves Rocher"),
    ("Brevo", "de Brevo"), ("SNCF", "de SNCF"), ("Hachette", "de Hachette"),  # aspirated h
    ("Hockey Club", "de Hockey Club"), ("Haute Couture", "de Haute Couture"),
    ("Yahoo", "de Yahoo"), ("3M", "de 3M"), ("« Acme »", "de « Acme »"), ("", "de "),
])
def test_de_elides_before_a_vowel_sound(name, written):
    assert french.elide("de", name) == written


def test_other_particles_and_the_catalogue_writes_elision_itself():
    assert french.elide("que", "Acme") == "qu'Acme" and french.elide("que", "Brevo") == "que Brevo"
    assert french.elide("le", "Atelier") == "l'Atelier" and french.elide("la", "Hollande") == "la Hollande"
    fr, en = i18n.texts("fr"), i18n.texts("en")
    for name, particle in (("Acme", "d'Acme"), ("Hélène SA", "d'Hélène SA"),
                           ("Brevo", "de Brevo"), ("Hachette", "de Hachette")):
        page = fr.gettext("confirm.intro", purpose="Lettre", tenant=name, channel="e-mail")
        assert f"« Lettre » {particle} par e-mail" in page
        assert f"from {name} by" in en.gettext("confirm.intro", purpose="Letter", tenant=name,
                                               channel="e-mail")
    assert "Souhaitez-vous qu'Acme garde" in fr.gettext("keep.intro", tenant="Acme")
    assert "Would you like Acme to keep" in en.gettext("keep.intro", tenant="Acme")


def test_a_particle_in_an_english_message_is_refused():
    with pytest.raises(ValueError):  # the catalogue test would meet this at once
        i18n.texts("en")._formatter.format("{tenant:de}", tenant="Acme")


# --- dates in the person's language and the tenant's time zone ----------------------------


@pytest.mark.parametrize(("zone", "language", "written"), [
    ("Europe/Paris", "fr", "4 décembre 2026 à 10:30 (heure de Paris)"),
    ("Europe/Paris", "en", "December 4, 2026 at 10:30\u202fAM (Paris time)"),
    ("Europe/Amsterdam", "fr", "4 décembre 2026 à 10:30 (heure d'Amsterdam)"),  # elided
    ("America/New_York", "fr", "4 décembre 2026 à 04:30 (heure de New York)"),
    ("America/New_York", "en", "December 4, 2026 at 4:30\u202fAM (New York time)"),
    ("UTC", "fr", "4 décembre 2026 à 09:30 (UTC)"),
    ("Asia/Tokyo", "en", "December 4, 2026 at 6:30\u202fPM (Tokyo time)"),
])
def test_dates_and_times_are_local_and_say_their_zone(zone, language, written):
    texts = i18n.texts(language, tenant(time_zone=zone))
    assert texts.datetime(MOMENT).replace("\xa0", " ") == written.replace("\xa0", " ")


def test_the_day_moves_with_the_zone_and_the_first_is_1er():
    late = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone.utc)
    assert i18n.texts("fr", tenant(time_zone="Europe/Paris")).date(late) == "1er janvier 2027"
    assert i18n.texts("en", tenant(time_zone="Europe/Paris")).date(late) == "January 1, 2027"
    assert i18n.texts("fr", tenant(time_zone="UTC")).date(late) == "31 décembre 2026"
    assert i18n.texts("fr").date(dt.date(2026, 3, 2)) == "2 mars 2026"
    assert i18n.texts("fr").date("2026-03-01T10:00:00+00:00") == "1er mars 2026"  # SQLite text
    naive = dt.datetime(2026, 6, 1, 22, 30)  # stored times are UTC
    assert i18n.texts("fr", tenant(time_zone="Europe/Paris")).date(naive) == "2 juin 2026"


def test_a_datetime_value_in_a_message_is_written_out():
    fr = i18n.texts("fr", tenant(time_zone="Europe/Paris"))
    assert fr.gettext("request.download_until", date=MOMENT) == "(jusqu'au 4 décembre 2026)"
    body = fr.gettext("mail.confirm.body", tenant="Acme", purposes="Lettre (e-mail)",
                      link="L", preferences="P", expires=MOMENT)
    assert "Ce lien expire le 4 décembre 2026 à 10:30 (heure de Paris)." in body
    assert "UTC" not in body and "2026-12-04" not in body


# --- the tenant's time zone ----------------------------------------------------------------


def test_time_zone_default_follows_the_country_and_bad_values_fall_back():
    assert i18n.default_time_zone("FR") == "Europe/Paris"
    assert i18n.default_time_zone("DE") == i18n.default_time_zone("") == "UTC"
    assert i18n.time_zone_of(tenant(country="FR")).key == "Europe/Paris"
    assert i18n.time_zone_of(tenant(country="US")).key == "UTC"
    assert i18n.time_zone_of(tenant(time_zone="America/New_York")).key == "America/New_York"
    assert i18n.time_zone_of(tenant(time_zone="Mars/Olympus")).key == "Europe/Paris"
    assert i18n.time_zone_of(None).key == "UTC"


@pytest.mark.parametrize("name", ["Europe/Paris", "UTC", "America/Argentina/Buenos_Aires",
                                  "Etc/GMT+3"])
def test_iana_names_are_time_zones(name):
    assert i18n.is_time_zone(name)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime",
                                  "Europe/Paris\n", "", "CET-1CEST", "europe/paris", None, 1,
                                  "Europe/" + "x" * 80])
def test_anything_else_is_not(name):
    assert not i18n.is_time_zone(name)
