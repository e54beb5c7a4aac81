"""TOOL-6 (S0 5.16): the tool comes in a Polish language version.

The operator's face of metra (the console) is the tool here. The PL profile makes Polish its
language, and the Polish catalogue is a translation, not a copy: only words spelled the same in
Polish may equal the English text, and the texts of the service operations read Polish.
"""

from __future__ import annotations

from babel.messages.pofile import read_po

from metra.console import i18n
from metra.profiles import load_profile

#: English words that are also correct Polish (a loan word or an abbreviation).
SAME_IN_POLISH = {"Element", "Model", "Status", "ok"}


def _polish() -> dict[str, str]:
    with i18n.po_path("pl").open("rb") as handle:
        catalog = read_po(handle, locale="pl")
    return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str)}


def test_tool6_the_pl_profile_speaks_polish() -> None:
    assert load_profile("pl").language == "pl"
    assert "pl" in i18n.LANGUAGES


def test_tool6_the_polish_catalogue_is_a_translation_not_a_copy() -> None:
    polish = _polish()
    assert len(polish) > 200
    copied = {msgid for msgid, text in polish.items() if text == msgid}
    assert copied <= SAME_IN_POLISH, sorted(copied - SAME_IN_POLISH)
    with_diacritics = [t for t in polish.values() if set(t) & set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")]
    assert len(with_diacritics) > len(polish) // 4


def test_tool6_service_texts_read_polish() -> None:
    """Texts a service engineer meets, against the usual Polish terms (licznik = meter,
    profil obciążenia = load profile)."""
    compiled = i18n.translations("pl")
    expected = {
        "Log in": "Zaloguj",
        "Meter": "Licznik",
        "Read now": "Odczytaj teraz",
        "Load profile": "Profil obciążenia",
        "Change password": "Zmień hasło",
    }
    assert {text: compiled.gettext(text) for text in expected} == expected
