"""Portal pages for terminals and POS settings: enrollment codes, revocation, and the settings
cascade explained and edited at the Partner, Merchant and Location levels.

Thin: check scope (merchants.access), call one service, render.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from devices import cascade, terminals
from devices.models import Level, SettingDefinition
from merchants.access import merchant_or_404, partner_or_404
from qiiub.card_redaction import text_without_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from qiiub.seed_texts import enum_choices, seed_text


@login_required
def terminal_list(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    context = {"merchant": merchant, "locations": merchant.locations.order_by("name"), "new_code": None}
    status = 200
    if request.method == "POST":
        location = _location_or_404(merchant, request.POST.get("location", ""))
        enrollment, code = terminals.enrollment_code_create(location=location, by=request.user)
        # Rendered, not redirected: the code is shown this once and never stored.
        context["new_code"] = {"code": code, "location": location, "expires_at": enrollment.expires_at}
        status = 201
    context["terminals"] = (
        terminals.Terminal.objects.filter(location__merchant=merchant).select_related("location")
        .order_by("revoked_at", "location__name", "name")
    )
    return render(request, "devices/terminals.html", context, status=status)


@login_required
@require_POST
def terminal_revoke(request, merchant_slug: str, terminal_id: int):
    merchant = merchant_or_404(request.user, merchant_slug)
    terminal = get_object_or_404(terminals.Terminal, pk=terminal_id, location__merchant=merchant)
    terminals.terminal_revoke(terminal=terminal, by=request.user)
    messages.success(request, _("%(name)s can no longer sync. Enroll it again with a new code to bring it back.")
                     % {"name": terminal.name})
    return redirect("portal:terminals", merchant.slug)


def _location_or_404(merchant, location_id: str):
    if not str(location_id).isdigit():
        raise Http404("No such location.")
    return get_object_or_404(merchant.locations, pk=location_id)


@login_required
def merchant_settings(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    location = merchant.locations.order_by("name").first()
    return _settings_page(request, owner=merchant, merchant=merchant, explain_at=location)


@login_required
def location_settings(request, merchant_slug: str, location_id: int):
    merchant = merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    return _settings_page(request, owner=location, merchant=merchant, explain_at=location)


@login_required
def partner_settings(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    return _settings_page(request, owner=partner, merchant=None, explain_at=None)


def _settings_page(request, *, owner, merchant, explain_at):
    errors: dict[str, list[str]] = {}
    posted: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        key = request.POST.get("key", "")
        try:
            if request.POST.get("action") == "clear":
                cascade.setting_value_clear(key=key, owner=owner, by=request.user)
                messages.success(request, _("%(key)s: back to the value from the level above.") % {"key": key})
            else:
                definition = get_object_or_404(SettingDefinition, key=key)
                value = _posted_value(definition, request.POST.get("value", ""))
                cascade.setting_value_set(key=key, owner=owner, value=value, locked="locked" in request.POST,
                                          by=request.user)
                messages.success(request, _("%(key)s saved. Terminals pick it up on their next sync.") % {"key": key})
            return redirect(request.path)
        except ValidationFailed as error:
            messages.error(request, error.message)
            errors = {key: [message for messages_ in error.field_errors.values() for message in messages_]
                      or [error.message]}
            posted[key] = text_without_card_data("value", request.POST.get("value", ""))  # never echo card data
            status = 422
        except ApplicationError as error:
            messages.error(request, error.message)
            errors, status = {key: [error.message]}, 409
    level = cascade.level_of(owner)
    overrides = {value.definition.key: value for value in cascade.overrides_at(owner)}
    resolved = cascade.resolve(explain_at) if explain_at is not None else {}
    rows = []
    for definition in SettingDefinition.objects.all():
        here = overrides.get(definition.key)
        effective = resolved.get(definition.key)
        edit_value = posted.get(definition.key, _as_text(
            here.value if here else (effective.value if effective else definition.default)))
        rows.append({
            "definition": definition,
            "description": seed_text(definition.description),
            "kind": _input_kind(definition.schema),
            "choices": _choices(definition.schema),
            "here": here,
            "effective": effective,
            "effective_json": json.dumps(effective.value if effective else definition.default, ensure_ascii=False),
            "edit_value": edit_value,
            # JSON shown whole, up to a screenful; longer values scroll in their box
            "edit_rows": min(max(edit_value.count("\n") + 1, 4), 16),
            "locked_above": _locked_above(definition, effective, level),
            "errors": errors.get(definition.key, []),
        })
    return render(request, "devices/settings.html", {
        "merchant": merchant, "owner": owner, "level": Level(level), "rows": rows, "explain_at": explain_at,
        "locations": merchant.locations.order_by("name") if merchant else [],
    }, status=status)


def _locked_above(definition, effective, level: str) -> str:
    if definition.system_locked:
        return Level.SYSTEM.label
    if effective is not None and effective.locked_by and cascade.LEVELS.index(effective.locked_by) < cascade.LEVELS.index(level):
        return Level(effective.locked_by).label
    return ""


def _input_kind(schema: dict) -> str:
    if schema.get("type") == "boolean":
        return "boolean"
    if "enum" in schema:
        return "select"
    if schema.get("type") in ("integer", "number", "string"):
        return schema["type"]
    return "json"


def _choices(schema: dict) -> list[tuple[str, str]]:
    """(value, label) per enum value: the label from `x-enumNames`, translated, else the value."""
    return [(str(value), label) for value, label in enum_choices(schema)]


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False)


def _posted_value(definition: SettingDefinition, text: str):
    kind = _input_kind(definition.schema)
    if kind == "boolean":
        return text == "true"
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            message = _("Enter a whole number.")
            raise ValidationFailed(message, field_errors={"value": [message]}) from None
    if kind == "json":
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError as error:
            message = _("Not valid JSON (line %(line)d): %(problem)s.") % {"line": error.lineno, "problem": error.msg}
            raise ValidationFailed(message, field_errors={"value": [message]}) from None
    return text
