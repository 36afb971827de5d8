"""Languages of the pages: zh-CN unless ``?lang=`` or the browser's Accept-Language asks for
English; every string from the gettext catalogs in ``locales/`` (Babel).

Message ids are English. ``scripts/i18n.sh`` extracts them from the templates and code
(``babel.cfg``), merges them into each catalog and compiles the ``.mo`` files, which are
committed so a fresh clone serves translated pages with no build step;
``tests/api/test_pages.py`` fails when a catalog misses a string or its ``.mo`` is stale.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.core import negotiate_locale
from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_CN"
# Locale → the language tag of the page (``<html lang>``, links).
LANGUAGES: dict[str, str] = {"zh_CN": "zh-CN", "en": "en"}
# Locales whose strings are the message ids themselves (no catalog).
SOURCE_LOCALES = frozenset({"en"})


def _match(asked: list[str]) -> str | None:
    found = negotiate_locale([a.replace("-", "_") for a in asked], list(LANGUAGES))
    if found is None:
        return None
    return next(locale for locale in LANGUAGES if locale.lower() == found.lower())


def _accepted(header: str) -> list[str]:
    """Accept-Language's tags, most wanted first (``q=0`` dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(request: Request) -> str:
    """The locale of the page: ``?lang=``, else Accept-Language, else zh-CN."""
    asked = request.query_params.get("lang")
    if asked and (locale := _match([asked])):
        return locale
    return _match(_accepted(request.headers.get("accept-language", ""))) or DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (the message ids for a source locale)."""
    if locale in SOURCE_LOCALES:
        return NullTranslations()
    found = Translations.load(str(LOCALES_DIR), [locale], DOMAIN)
    if not isinstance(found, Translations):
        raise RuntimeError(
            f"no compiled catalog for {locale} in {LOCALES_DIR}: run scripts/i18n.sh"
        )
    return found
