"""Rendering pages: one Jinja2 environment per language (autoescaped, gettext installed), and
the security headers every console page carries.

One environment per language rather than one with per-request callables: an environment is
shared by all threads of the server, and installing translations into it per request would race.
Numbers and times are formatted by Babel for the page's language, times in the profile's zone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from metra.console import i18n

SECURITY_HEADERS = {
    # Scripts only from the console itself (plotly.js included); page data travel as JSON in
    # <script type="application/json">, which is never executed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _json_data(value: Any) -> Markup:
    """JSON safe to embed in a <script type="application/json"> element."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


class Pages:
    """Renders the console's templates in any of its languages."""

    def __init__(self, timezone: str, **extra: Any) -> None:
        self.zone = ZoneInfo(timezone)
        self.extra = extra
        self._envs = {lang: self._environment(lang) for lang in i18n.LANGUAGES}

    def _environment(self, lang: str) -> Environment:
        env = Environment(
            loader=PackageLoader("metra.console", "templates"),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
        where = i18n.locale(lang)
        zone = self.zone

        def number(value: float | None, digits: int = 3) -> str:
            if value is None:
                return "–"
            return format_decimal(value, format=f"#,##0.{'#' * digits}", locale=where)

        def percent(value: float | None) -> str:
            return "–" if value is None else format_percent(value / 100.0, "#,##0.00 %", where)

        def moment(value: datetime | None) -> str:
            if value is None:
                return "–"
            return format_datetime(value.astimezone(zone), "short", locale=where)

        def day(value: date | None) -> str:
            return "–" if value is None else format_date(value, "medium", locale=where)

        env.filters.update(number=number, percent=percent, moment=moment, day=day, data=_json_data)
        env.globals.update(languages=i18n.LANGUAGES, lang=lang, **self.extra)
        return env

    def render(
        self,
        lang: str,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
    ) -> HTMLResponse:
        """The page as an HTML response with the console's security headers."""
        html = self._envs[lang].get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def text(self, lang: str, message: str) -> str:
        """`message` (marked with `N_`) in `lang`."""
        return i18n.translations(lang).gettext(message)
