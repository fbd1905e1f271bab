"""Any brand colour a tenant picks still gives WCAG 2.1 AA text (1.4.3,
4.5:1): links and headings in a darkened shade that reads on white, button
labels in black or white, whichever reads on the button. Stored values that
did not pass the settings' validation never come out."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from tenants.branding import (
    DEFAULT_PRIMARY,
    brand_of,
    contrast,
    label_on,
    readable_on_white,
    web_url,
)

colours = st.integers(0, 0xFFFFFF).map(lambda n: f"#{n:06x}")


@given(colours)
def test_any_colour_gives_readable_text(colour):
    ink = readable_on_white(colour)
    assert contrast(ink, "#ffffff") >= 4.5
    assert contrast(label_on(colour), colour) >= 4.5


def test_known_values():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert readable_on_white("#0b4f9c") == "#0b4f9c"  # already readable: unchanged
    assert readable_on_white("#ffff00") != "#ffff00"
    assert label_on("#ffff00") == "#000000" and label_on("#0b4f9c") == "#ffffff"


def _tenant(**settings):
    return SimpleNamespace(name="Acme", settings=settings)


def test_forged_settings_fall_back_to_the_designed_defaults():
    brand = brand_of(_tenant(primary_color="red;}</style>", accent_color="#12",
                             logo_url="javascript:alert(1)"))
    assert brand.primary == DEFAULT_PRIMARY and brand.accent != "#12" and brand.logo_url == ""
    assert not brand_of(None).branded and brand_of(None).name == "Optinbase"
    for bad in ("javascript:x", "https://a.example/\" onerror=\"x", "//a.example/x", 7, None):
        assert web_url(bad) == ""
    assert web_url("https://a.example/logo.png") == "https://a.example/logo.png"


def test_the_older_sender_setting_gives_a_name_only_when_it_holds_one():
    assert brand_of(_tenant(sender="Acme News <news@acme.example>")).sender_name == "Acme News"
    assert brand_of(_tenant(sender="Acme News")).sender_name == "Acme News"
    assert brand_of(_tenant(sender="news@acme.example")).sender_name == ""
    assert brand_of(_tenant(sender="X", sender_name="Acme")).sender_name == "Acme"
