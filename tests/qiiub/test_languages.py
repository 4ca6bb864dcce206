"""The portal in English and Spanish (Puerto Rico): the catalog is complete and compiled, each user
gets their language (chosen, else their merchant's), and amounts, counts and dates read as each
language writes them."""

from __future__ import annotations

import ast
import gettext
import os
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from merchants.models import Role, UserPreference
from merchants.services import membership_grant
from qiiub.errors import ValidationFailed

CATALOG = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
# What makemessages reads: the project's Python and templates, not the tests, benchmarks or venv.
SKIPPED_DIRS = {".venv", ".git", ".run", "tests", "bench", "staticfiles", "node_modules", "locale", "docs"}


# A PO file read without polib: entries as (context, msgid) → (msgstrs, flags).


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def po_entries(path: Path) -> dict[tuple[str | None, str], tuple[list[str], set[str]]]:
    entries: dict[tuple[str | None, str], tuple[list[str], set[str]]] = {}
    current: dict = {}
    field = None

    def flush():
        if "msgid" in current and not current.get("obsolete"):
            key = (current.get("msgctxt"), current["msgid"])
            strings = [current[name] for name in sorted(k for k in current if k.startswith("msgstr"))]
            entries[key] = (strings, current.get("flags", set()))
        current.clear()

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            flush()
            field = None
        elif line.startswith("#~"):
            current["obsolete"] = True
        elif line.startswith("#,"):
            current["flags"] = {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[field] += _unquote(line)
        else:
            field, _space, value = line.partition(" ")
            current[field] = _unquote(value)
    return entries


def test_every_spanish_entry_is_translated_and_none_is_fuzzy():
    entries = po_entries(CATALOG / "django.po")
    untranslated = [key for key, (strings, flags) in entries.items() if key[1] and not all(strings)]
    fuzzy = [key for key, (_strings, flags) in entries.items() if key[1] and "fuzzy" in flags]
    assert len(entries) > 250
    assert untranslated == [] and fuzzy == []


def test_the_compiled_catalog_matches_the_po_file():
    with (CATALOG / "django.mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog
    for (context, msgid), (strings, _flags) in po_entries(CATALOG / "django.po").items():
        if not msgid:
            continue
        key = f"{context}\x04{msgid}" if context else msgid
        if len(strings) == 1:
            assert catalog.get(key) == strings[0], f"django.mo is older than django.po for {msgid!r}"
        else:
            assert [catalog.get((key, index)) for index in range(len(strings))] == strings, msgid


def test_every_string_marked_in_the_source_is_in_the_spanish_catalog(tmp_path, settings):
    # given a copy of the sources and of the catalog, extracted again as makemessages does
    for source in Path(settings.BASE_DIR).rglob("*"):
        relative = source.relative_to(settings.BASE_DIR)
        if source.suffix in (".py", ".html", ".txt") and not SKIPPED_DIRS & set(relative.parts):
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp_path / relative)
    (tmp_path / "locale" / "es" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copyfile(CATALOG / "django.po", tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        call_command("makemessages", locale=["es"], verbosity=0, add_location="file")
    finally:
        os.chdir(previous)

    # then every msgid found has its Spanish, and the committed catalog has nothing stale
    extracted = po_entries(tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po")
    missing = sorted(msgid for (context, msgid), (strings, flags) in extracted.items()
                     if msgid and (not all(strings) or "fuzzy" in flags))
    assert missing == [], "translate these in locale/es/LC_MESSAGES/django.po, then compilemessages"
    committed = {key for key in po_entries(CATALOG / "django.po") if key[1]}
    assert committed == {key for key in extracted if key[1]}, "run makemessages -l es: django.po is not current"


def test_msgfmt_accepts_the_spanish_catalog(tmp_path):
    subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(CATALOG / "django.po")], check=True)


# Who sees which language


def _merchant_admin(personas, username: str):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "x")
    membership_grant(user=user, role=Role.MERCHANT_ADMIN, merchant=personas.san_juan)
    return user


def test_a_merchant_admin_of_a_spanish_merchant_gets_the_dashboard_in_spanish(client, personas):
    # given San Juan speaks Spanish and its new admin chose nothing
    assert personas.san_juan.language == "es"
    client.force_login(_merchant_admin(personas, "sanjuan-nuevo"))

    # when they open the dashboard
    page = client.get(reverse("portal:dashboard", args=[personas.san_juan.slug]), HTTP_ACCEPT_LANGUAGE="en-US")

    # then it is in Spanish, and says so
    text = page.content.decode()
    assert page.status_code == 200 and page.headers["Content-Language"] == "es"
    assert '<html lang="es">' in text and "Añadir una integración" in text and "Add an integration" not in text


def test_choosing_english_in_the_switcher_switches_and_persists(client, personas):
    user = _merchant_admin(personas, "sanjuan-bilingue")
    client.force_login(user)
    dashboard = reverse("portal:dashboard", args=[personas.san_juan.slug])

    answer = client.post(reverse("language-set"), {"language": "en", "next": dashboard})

    assert answer.status_code == 302 and answer.headers["Location"] == dashboard
    assert UserPreference.objects.get(user=user).language == "en"
    page = client.get(dashboard).content.decode()
    assert "Add an integration" in page and "Language saved." in page
    # a later visit, in a new session, stays in English
    client.logout()
    client.force_login(user)
    assert "Add an integration" in client.get(dashboard).content.decode()
    # and back to automatic: the merchant's Spanish again
    client.post(reverse("language-set"), {"language": "", "next": dashboard})
    assert UserPreference.objects.get(user=user).language == ""
    assert "Añadir una integración" in client.get(dashboard).content.decode()


def test_the_switcher_answers_a_boosted_post_with_a_full_reload(client, personas):
    user = _merchant_admin(personas, "sanjuan-htmx")
    client.force_login(user)
    dashboard = reverse("portal:dashboard", args=[personas.san_juan.slug])

    answer = client.post(reverse("language-set"), {"language": "en", "next": dashboard}, HTTP_HX_REQUEST="true")

    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == dashboard
    assert UserPreference.objects.get(user=user).language == "en"


@pytest.mark.security
def test_the_switcher_never_sends_the_user_off_site(client, personas):
    client.force_login(_merchant_admin(personas, "sanjuan-redirect"))
    answer = client.post(reverse("language-set"), {"language": "en", "next": "https://evil.example.com/"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_an_unknown_language_code_is_refused_and_nothing_is_stored(client, personas):
    user = _merchant_admin(personas, "sanjuan-fr")
    client.force_login(user)
    dashboard = reverse("portal:dashboard", args=[personas.san_juan.slug])

    answer = client.post(reverse("language-set"), {"language": "fr", "next": dashboard}, follow=True)

    assert not UserPreference.objects.filter(user=user).exists()
    assert "Idioma desconocido «fr»: escoja uno de en, es." in answer.content.decode()
    with pytest.raises(ValidationFailed) as refused:
        from merchants.services import user_language_set

        user_language_set(user=user, language="xx-evil")
    assert refused.value.code == "unknown_language"
    assert not UserPreference.objects.filter(user=user).exists()


def test_a_partner_admin_reads_english_and_an_unattached_user_what_the_browser_asks(client, personas):
    UserPreference.objects.filter(user=personas.partner_admin).update(language="")
    client.force_login(personas.partner_admin)
    assert client.get("/portal/", HTTP_ACCEPT_LANGUAGE="es-PR,es;q=0.9").headers["Content-Language"] == "en"

    nobody = get_user_model().objects.create_user("sin-comercio", "x@example.com", "x")
    client.force_login(nobody)
    page = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="es-PR,es;q=0.9")
    assert page.headers["Content-Language"] == "es"
    assert "Su cuenta todavía no está vinculada a ningún comercio." in page.content.decode()


def test_the_sign_in_page_follows_the_browser(client):
    assert "Contraseña" in client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Password" in client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


# Money, numbers and dates


def _render(language: str, source: str, **context) -> str:
    with translation.override(language):
        return Template("{% load portal %}" + source).render(Context(context))


@pytest.mark.parametrize("language", ["en", "es"])
def test_money_reads_as_dollars_with_a_decimal_point_in_both_languages(language):
    # Puerto Rico's Spanish writes amounts as the US does, unlike Spain's 1.234,50.
    assert _render(language, "{{ amount|money }}", amount=Decimal("1234.5")) == "$1,234.50"
    assert _render(language, "{{ amount|money }}", amount=Decimal("-12")) == "-$12.00"
    assert _render(language, "{{ amount|money }}", amount=Decimal("1234567.891")) == "$1,234,567.89"
    assert _render(language, "{{ count|number }}", count=12345) == "12,345"
    assert _render(language, "{{ amount|money }}", amount=None) == ""


def test_dates_read_as_each_language_writes_them():
    moment = datetime(2026, 11, 24, 15, 5)
    assert _render("en", '{{ d|date:"SHORT_DATETIME_FORMAT" }}', d=moment) == "11/24/2026 3:05 PM"  # no "p.m." to end a sentence with two periods
    assert _render("es", '{{ d|date:"SHORT_DATETIME_FORMAT" }}', d=moment) == "24/11/2026 15:05"
    assert _render("en", '{{ d|date:"YEAR_MONTH_FORMAT" }}', d=moment) == "November 2026"
    assert _render("es", '{{ d|date:"YEAR_MONTH_FORMAT" }}', d=moment) == "noviembre de 2026"


def test_status_labels_and_next_steps_follow_the_language(personas):
    from integrations.models import Status

    with translation.override("es"):
        assert str(Status.ACTIVE.label) == "Activa"
        assert _render("es", "{{ value|status_label }}", value="paused") == "En pausa"
    with translation.override("en"):
        assert str(Status.ACTIVE.label) == "Active"
