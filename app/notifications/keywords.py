"""The words an SMS may start with, in each language, and what they mean.

Owners answer asks ("YES 4821", "SÍ 4821", "YOG 4821") and control the texts (STOP,
HELP, START) in English, Spanish or Hmong; case and accents are ignored, so "si", "Sí"
and "SÍ" are one word. The carriers' English words (STOP, HELP, START and the rest of
CTIA's lists) work whatever the owner's language. Twilio answers its own stop words itself
and has no others by default, so the Spanish and Hmong stop words get our confirmation
(app/notifications/service.py).

A word is looked up in the owner's saved language first, then in English, Spanish and
Hmong: "NO" is English and Spanish, and an owner who chose Spanish is answered in Spanish.
The first word of each meaning is the one the texts tell owners to use.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.i18n import DEFAULT, LANGUAGES, current_language

# Meanings: the three answers to an ask (app/footage/answers.py's actions) and the controls.
APPROVE, DECLINE, NO_FOOTAGE = "approve", "decline", "no_footage"
STOP, START, HELP = "stop", "start", "help"
# The yearly re-confirmation of an owner's cameras (app/cameras/confirmation.py).
CONFIRM = "confirm"

WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {APPROVE: ("YES", "Y", "APPROVE"), DECLINE: ("NO", "N", "DECLINE"),
           NO_FOOTAGE: ("NONE", "NOFOOTAGE", "NO FOOTAGE"),
           # CTIA's opt-out and opt-in words, which carriers and Twilio act on too.
           STOP: ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
           START: ("START", "UNSTOP", "OPTIN"), HELP: ("HELP", "INFO"), CONFIRM: ("CONFIRM",)},
    # BAJA/ALTA: "darse de baja" and "de alta", to leave and to join a list.
    "es": {APPROVE: ("SI",), DECLINE: ("NO",), NO_FOOTAGE: ("NADA", "NO TENGO"),
           STOP: ("ALTO", "BAJA", "PARAR", "CANCELAR"), START: ("ALTA", "INICIO"), HELP: ("AYUDA",),
           CONFIRM: ("CONFIRMAR", "CONFIRMO")},
    # YOG yes, TSIS not, TSIS MUAJ "do not have", NRES stop, PIB begin, PAB help, LEES PAUB confirm.
    "hmn": {APPROVE: ("YOG",), DECLINE: ("TSIS",), NO_FOOTAGE: ("TSIS MUAJ",), STOP: ("NRES",),
            START: ("PIB",), HELP: ("PAB",), CONFIRM: ("LEES PAUB", "LEESPAUB")},
}
ANSWERS = (APPROVE, DECLINE, NO_FOOTAGE)
# A reply code as texts give it ("4821"); owners may type it in lower case.
_CODE = re.compile(r"^[A-Z0-9]{3,8}$")


@dataclass(frozen=True)
class Keyword:
    meaning: str | None  # one of the meanings above, or None: not understood
    language: str  # the language of the word (the owner's, or English, when not understood)
    code: str | None = None  # the reply code after an answer's word


def plain_words(text: str | None) -> list[str]:
    """The words of ``text`` in upper case, accents and punctuation dropped: 'Sí, 4821!' → ['SI', '4821']."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^A-Za-z0-9 ]+", " ", bare).upper().split()


def parse(text: str | None, saved_language: str | None = None) -> Keyword:
    """What an SMS says: 'si 4821' → Keyword('approve', 'es', '4821'); 'no footage' → ('no_footage', 'en')."""
    words = plain_words(text)
    fallback = saved_language if saved_language in LANGUAGES else DEFAULT
    if not words:
        return Keyword(None, fallback)
    order = list(dict.fromkeys([fallback, *LANGUAGES]))
    # Two-word phrases ("NO FOOTAGE", "TSIS MUAJ") before the one word they start with.
    for length in (2, 1):
        if len(words) < length:
            continue
        phrase = " ".join(words[:length])
        for language in order:
            meaning = next((m for m, said in WORDS[language].items() if phrase in said), None)
            if meaning is not None:
                rest = words[length:]
                code = rest[0] if meaning in ANSWERS and rest and _CODE.match(rest[0]) else None
                return Keyword(meaning, language, code)
    return Keyword(None, fallback)


def reply_word(meaning: str) -> str:
    """The word texts in the current language tell owners to use for ``meaning``: 'YES', 'SI', 'YOG'."""
    return WORDS.get(current_language(), WORDS[DEFAULT])[meaning][0]


def english_word(meaning: str) -> str:
    return WORDS[DEFAULT][meaning][0]
