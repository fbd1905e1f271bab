"""French elision: "d'Acme", "qu'Hélène", but "de Brevo", "de Yahoo", "de Hachette".

A catalogue writes the particle as the value's format, `{tenant:de}`, and the
formatter (optinbase.i18n.texts) asks here whether the value elides it. The
particle elides before a vowel sound: a vowel (accents and œ/æ included), a
"y" before a consonant (Yves, not Yahoo), and a mute "h" — every h except the
aspirated ones listed below (French words and names that take "de"/"le":
haricot, Hollande, hockey…). Names beginning with a digit or a sign do not
elide. A name the list gets wrong reads "d'Hx" instead of "de Hx" (or the
reverse): add it to ASPIRATED_H."""

from __future__ import annotations

import re
import unicodedata

PARTICLES = {"de": "d'", "le": "l'", "la": "l'", "que": "qu'", "ne": "n'", "je": "j'"}
_VOWELS = frozenset("aeiouœæ")
_FIRST_WORD = re.compile(r"[^\W\d_]+")
# Aspirated h: no elision, no liaison. Accents dropped, lower case, singular.
ASPIRATED_H = frozenset("""
    hache hachette hachis hachoir haie haillon haine hair hale haletant hall halle halte
    hamac hamburger hameau hamster hanche handball handicap hangar hanneton hanter happer
    harangue haras harcelement hardi hareng hargne haricot harnais harpe harpon hasard hate
    hausse haut haute hauteur havre heler hennissement herisson hernie heron heros herse
    hetre heurt hibou hideux hierarchie hisser hobby hocher hockey hollande hollandais
    homard hongrie hongrois honte hoquet horde hors hotte houblon houille houle housse houx
    hublot huee huguenot huit huitieme hulotte humer hurlement hussard hutte hambourg hanovre
""".split())


def _plain(word: str) -> str:
    """Lower case without accents (é → e; œ stays œ)."""
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def elides(phrase: str) -> bool:
    """Whether a particle before `phrase` loses its vowel."""
    match = _FIRST_WORD.match(phrase.strip())
    if match is None:  # a digit, a quote, a sign: read as written, no elision
        return False
    word = _plain(match.group(0))
    first = word[0]
    if first in _VOWELS:
        return True
    if first == "y":
        return len(word) > 1 and word[1] not in _VOWELS and word[1] != "y"
    if first == "h":
        singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
        return word not in ASPIRATED_H and singular not in ASPIRATED_H
    return False


def elide(particle: str, phrase: str) -> str:
    """`particle` before `phrase`, elided when French says so: de + Acme → d'Acme."""
    text = str(phrase)
    if elides(text):
        return PARTICLES[particle] + text.strip()
    return f"{particle} {text}"
