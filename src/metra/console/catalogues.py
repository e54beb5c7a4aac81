"""Keeping the console's catalogues in step with its texts: extraction from the templates and the
code into ``locale/console.pot``, and the merge into every language's ``.po``.

Run ``python -m metra.console.catalogues`` after changing a text: new strings arrive untranslated
(the i18n tests then fail until a translator fills them in), vanished ones are dropped.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from metra.console.i18n import DEFAULT, DOMAIN, LANGUAGES

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]


def package_dir() -> Path:
    """The console package's directory in the source tree (catalogues are edited there)."""
    return Path(__file__).parent


def extract() -> Catalog:
    """Every translatable string of the templates and the Python code, as a catalogue."""
    catalog = Catalog(domain=DOMAIN, project="metra console", charset="utf-8")
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
    for filename, lineno, message, comments, context in extract_from_dir(
        package_dir(), METHODS, options, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update_catalogues() -> None:
    """Write ``locale/console.pot`` and merge it into every language's ``.po`` (new strings
    arrive untranslated, vanished ones are dropped); run after changing the console's texts:
    ``python -m metra.console.catalogues``."""
    template = extract()
    root = package_dir() / "locale"
    with (root / f"{DOMAIN}.pot").open("wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=True, no_location=True)
    for lang in LANGUAGES:
        if lang == DEFAULT:
            continue
        path = root / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, sort_output=True, no_location=True, ignore_obsolete=True)


if __name__ == "__main__":
    update_catalogues()
