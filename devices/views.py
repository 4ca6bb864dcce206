"""Portal pages for terminals and POS settings: enrollment codes, revocation, and the settings
cascade explained and edited at the Partner, Merchant and Location levels, each value in a form
generated from its setting's JSON Schema (integrations.schema_forms).

Thin: check scope (merchants.access), call one service, render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from devices import cascade, terminals
from devices.models import Level, SettingDefinition
from integrations.schema_forms import schema_form, values_from_post
from merchants.access import merchant_or_404, partner_or_404
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from qiiub.refusals import back_to, post_or_back_to
from qiiub.schemas import labelled_messages
from qiiub.seed_texts import seed_text


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
@post_or_back_to(back_to("portal:terminals", "merchant_slug"))
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


@dataclass
class _Refused:
    """A setting's form that was not saved: what it held, why, and the lock it asked for."""

    key: str
    value: Any
    errors: dict[str, list[str]]
    locked: bool


def _save_or_clear(request, owner) -> tuple[_Refused | None, int]:
    """Save the setting posted (or clear it); what was refused, with the page's status, if not."""
    key, locked, value = request.POST.get("key", ""), "locked" in request.POST, None
    clearing = request.POST.get("action") == "clear"
    try:
        if clearing:
            cascade.setting_value_clear(key=key, owner=owner, by=request.user)
            messages.success(request, _("%(key)s: back to the value from the level above.") % {"key": key})
        else:
            definition = get_object_or_404(SettingDefinition, key=key)
            value = values_from_post(definition.schema, request.POST)
            cascade.setting_value_set(key=key, owner=owner, value=value, locked=locked, by=request.user)
            messages.success(request, _("%(key)s saved. Terminals pick it up on their next sync.") % {"key": key})
        return None, 302
    except ValidationFailed as error:
        # Said once: the banner points at the form, each field marked says what is wrong with it.
        messages.error(request, _("Not saved: fix the fields marked."))
        return _Refused(key, value, error.field_errors or {"__all__": [error.message]}, locked), 422
    except ApplicationError as error:
        messages.error(request, error.message)
        return (None if clearing else _Refused(key, value, {"__all__": [error.message]}, locked)), 409


def _settings_page(request, *, owner, merchant, explain_at):
    refused, status = None, 200
    if request.method == "POST":
        refused, status = _save_or_clear(request, owner)
        if status == 302:
            return redirect(request.path)
    level = cascade.level_of(owner)
    overrides = {value.definition.key: value for value in cascade.overrides_at(owner)}
    resolved = cascade.resolve(explain_at) if explain_at is not None else {}
    rows = []
    for definition in SettingDefinition.objects.all():
        here = overrides.get(definition.key)
        effective = resolved.get(definition.key)
        again = refused if refused is not None and refused.key == definition.key else None
        form = schema_form(
            definition.schema,
            # a refused form keeps what was typed, never its card data
            without_card_data(again.value) if again else here.value if here else
            effective.value if effective else definition.default,
            again.errors if again else None,
        )
        rows.append({
            "definition": definition,
            "description": seed_text(definition.description),
            "here": here,
            "effective": effective,
            "effective_json": json.dumps(effective.value if effective else definition.default, ensure_ascii=False),
            "form": form,
            "errors": labelled_messages(definition.schema, form.unplaced),
            "locked": again.locked if again else bool(here and here.locked),
            "locked_above": _locked_above(definition, effective, level),
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
