"""The console's languages: gettext catalogues written as Babel ``.po`` files, one per language
under ``locale/<lang>/LC_MESSAGES/console.po``, with ``locale/console.pot`` as the template.

Why compile in memory: the ``.po`` file is the one source a translator edits; compiling it with
Babel when a language is first used (``write_mo`` into a buffer, read back by the standard
library's ``GNUTranslations``) gives the exact ``.mo`` a build step would write, without a build
step that could be forgotten and without writing into an installed package. A fuzzy or empty
entry is not used (it falls back to English), and ``tests/console/test_i18n.py`` keeps every
catalogue complete.

Strings in Python code that reach a page are marked with `N_` (extracted, translated at render
time); everything else lives in the templates. `metra.console.catalogues` extracts them.
"""

from __future__ import annotations

import functools
import gettext
from importlib import resources
from io import BytesIO

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "console"
DEFAULT = "en"
LANGUAGES: dict[str, str] = {
    "en": "English",
    "pl": "Polski",
    "ru": "Русский",
    "uk": "Українська",
    "nb": "Norsk bokmål",
}
"""Language code (ISO 639-1, as in the profiles' `language`) -> its own name, for the switch."""


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


def po_path(lang: str) -> resources.abc.Traversable:
    """Where the catalogue of `lang` lives inside the package."""
    return resources.files("metra.console") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of `lang` (English is the source language: no catalogue)."""
    if lang not in LANGUAGES:
        raise ValueError(f"no console language {lang!r}")
    if lang == DEFAULT:
        return gettext.NullTranslations()
    with po_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@functools.cache
def locale(lang: str) -> Locale:
    """The Babel locale that formats numbers and dates for `lang`."""
    return Locale.parse(lang)


def choose(requested: str | None, profile_language: str) -> str:
    """The language to render: the viewer's choice if offered, else the profile's, else English."""
    for candidate in (requested, profile_language):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT
