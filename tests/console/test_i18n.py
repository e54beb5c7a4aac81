"""The console speaks the profile's language with a switch (English, Polish, Russian, Ukrainian,
Norwegian Bokmål), through gettext catalogues: every string of the templates and the code is in
the template catalogue, every language translates all of them with the same placeholders, and a
page rendered in a language shows its translations (JUR-1)."""

from __future__ import annotations

import re

import pytest
from api.conftest import World
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from metra.console import catalogues, i18n
from metra.security.roles import Role

from .conftest import as_role

PLACEHOLDER = re.compile(r"%\(\w+\)s")
LOG_IN = {"en": "Log in", "pl": "Zaloguj", "ru": "Войти", "uk": "Увійти", "nb": "Logg inn"}
DASHBOARD = {"en": "Dashboard", "pl": "Pulpit", "ru": "Панель", "uk": "Панель", "nb": "Oversikt"}


def test_jur1_the_template_catalogue_holds_every_string_of_the_console() -> None:
    """JUR-1: extraction from templates and code equals the committed ``console.pot``; run
    ``python -m metra.console.catalogues`` after changing a text."""
    with (catalogues.package_dir() / "locale" / "console.pot").open("rb") as handle:
        committed = {m.id for m in read_po(handle) if m.id}
    extracted = {m.id for m in catalogues.extract() if m.id}
    assert extracted == committed
    assert len(extracted) > 200


@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != "en"])
def test_jur1_every_language_translates_every_string(lang: str) -> None:
    """JUR-1: no empty or fuzzy entry (it would fall back to English), placeholders kept."""
    with i18n.po_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    with (catalogues.package_dir() / "locale" / "console.pot").open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    entries = {m.id: m for m in catalog if m.id}
    assert set(entries) == wanted
    for msgid, message in entries.items():
        assert message.string and not message.fuzzy, (lang, msgid)
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(
            PLACEHOLDER.findall(str(message.string))
        ), (lang, msgid)
    compiled = i18n.translations(lang)
    assert compiled.gettext("Log in") == LOG_IN[lang]


def test_jur1_the_profiles_language_is_the_default(client: TestClient) -> None:
    """JUR-1: without a choice the console speaks the profile's language (PL: Polish)."""
    client.cookies.clear()
    page = client.get("/console/login")
    assert '<html lang="pl">' in page.text and ">Zaloguj<" in page.text


@pytest.mark.parametrize("lang", list(i18n.LANGUAGES))
def test_jur1_the_switch_renders_the_chosen_language(
    client: TestClient, world: World, lang: str
) -> None:
    """JUR-1: the switch remembers the language; pages and menus render in it."""
    as_role(client, world, Role.OPERATOR)
    switched = client.get(f"/console/lang/{lang}?next=/console/dashboard")
    assert switched.status_code == 303 and switched.headers["location"] == "/console/dashboard"
    page = client.get("/console/dashboard")
    assert f'<html lang="{lang}">' in page.text
    assert f">{DASHBOARD[lang]}</a>" in page.text
    assert f">{LOG_IN[lang]}<" not in page.text  # logged in: no log-in button
    client.cookies.clear()
    client.cookies.set("metra_lang", lang)
    assert f">{LOG_IN[lang]}<" in client.get("/console/login").text


def test_jur1_an_unknown_language_is_ignored(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.get("/console/lang/xx?next=https://evil.example/")
    assert answer.headers["location"] == "/console/"
    assert "metra_lang" not in answer.headers.get("set-cookie", "")
