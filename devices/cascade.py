"""The settings cascade, in one place: System → Partner → Merchant → Location.

A lower level overrides a higher one unless a higher level locked the key. Resolving a location
gives every key with its value, the level it came from and the level that locked it. Every change
bumps the config version of each location it reaches, in one statement, so terminals see it on
their next pull and an unchanged config stays a 304.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from devices.models import Level, SettingDefinition, SettingValue
from integrations.models import IntegrationType
from merchants.models import Location, Merchant
from partners.models import Partner
from qiiub.errors import NotAllowed, NotFound
from qiiub.schemas import validate_against

logger = logging.getLogger(__name__)

# Highest first: the order a key is resolved in.
LEVELS = (Level.SYSTEM, Level.PARTNER, Level.MERCHANT, Level.LOCATION)
Owner = Partner | Merchant | Location


@dataclass(frozen=True)
class Resolved:
    key: str
    value: Any
    source: str  # the level the value came from
    locked_by: str | None  # the level that locked it (None: a lower level may still override)
    description: str = ""

    def as_config(self) -> dict:
        return {"value": self.value, "source": self.source, "locked": self.locked_by is not None}


def level_of(owner: Owner) -> str:
    return {Partner: Level.PARTNER, Merchant: Level.MERCHANT, Location: Level.LOCATION}[type(owner)]


def _owner_filter(owner: Owner) -> dict:
    return {level_of(owner): owner}


@cache
def _resolve_sql() -> str:
    # One statement for every key and the overrides reaching the location: resolving is what a
    # terminal's pull costs whenever its config changed, for thousands of terminals at once.
    return f"""
        SELECT definition.key, definition."default", definition.system_locked, definition.description,
               value.level, value.value, value.locked
        FROM {SettingDefinition._meta.db_table} definition
        LEFT JOIN {SettingValue._meta.db_table} value ON value.definition_id = definition.id
             AND (value.location_id = %(location)s OR value.merchant_id = %(merchant)s OR value.partner_id = %(partner)s)
        ORDER BY definition.key
    """


def resolve(location: Location) -> dict[str, Resolved]:
    """Every setting's effective value at `location`, with where it came from (one query)."""
    keys: dict[str, tuple] = {}
    overrides: dict[str, dict[str, tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_resolve_sql(), {"location": location.pk, "merchant": location.merchant_id,
                                        "partner": location.merchant.partner_id})
        for key, default, system_locked, description, level, value, locked in cursor.fetchall():
            keys[key] = (_json(default), system_locked, description)
            if level is not None:
                overrides.setdefault(key, {})[level] = (_json(value), locked)
    resolved = {}
    for key, (value, system_locked, description) in keys.items():
        source = Level.SYSTEM
        locked_by = Level.SYSTEM if system_locked else None
        for level in LEVELS[1:]:
            if locked_by is not None:
                break
            if (override := overrides.get(key, {}).get(level)) is not None:
                value, source = override[0], level
                if override[1]:
                    locked_by = level
        resolved[key] = Resolved(key, value, source, locked_by, description)
    return resolved


def _json(raw):
    # A raw cursor hands JSON columns back as text (Django's JSONField decodes them itself).
    return json.loads(raw) if isinstance(raw, str) else raw


def overrides_at(owner: Owner) -> QuerySet[SettingValue]:
    """The values set at `owner`'s own level."""
    return SettingValue.objects.filter(**_owner_filter(owner)).select_related("definition")


def _ancestors(owner: Owner) -> list[tuple[str, Q]]:
    """The levels above `owner` that could lock a key for it, with how to find their values."""
    if isinstance(owner, Location):
        merchant = owner.merchant
        above = [(Level.MERCHANT, Q(merchant_id=merchant.pk))]
    elif isinstance(owner, Merchant):
        merchant, above = owner, []
    else:
        return []
    if merchant.partner_id:
        above.insert(0, (Level.PARTNER, Q(partner_id=merchant.partner_id)))
    return above


def _refuse_if_locked_above(definition: SettingDefinition, owner: Owner) -> None:
    if definition.system_locked:
        raise NotAllowed(
            _("'%(key)s' is locked by QIIUB (System level) and cannot be overridden.") % {"key": definition.key},
            code="setting_locked",
        )
    for level, owned in _ancestors(owner):
        if SettingValue.objects.filter(owned, definition=definition, locked=True).exists():
            raise NotAllowed(
                _("'%(key)s' is locked at the %(level)s level and cannot be overridden here.")
                % {"key": definition.key, "level": Level(level).label},
                code="setting_locked",
            )


def _definition(key: str) -> SettingDefinition:
    definition = SettingDefinition.objects.filter(key=key).first()
    if definition is None:
        raise NotFound(_("There is no setting '%(key)s'.") % {"key": key}, code="unknown_setting")
    return definition


def locations_reached(owner: Owner | None) -> QuerySet[Location]:
    """The locations whose config a change at `owner` (None: System) can reach."""
    if owner is None:
        return Location.objects.all()
    if isinstance(owner, Partner):
        return Location.objects.filter(merchant__partner=owner)
    if isinstance(owner, Merchant):
        return Location.objects.filter(merchant=owner)
    return Location.objects.filter(pk=owner.pk)


def config_changed(owner: Owner | None) -> int:
    """Mark the config of every location `owner` reaches as changed: one UPDATE however many
    terminals there are. Returns the number of locations."""
    return locations_reached(owner).update(config_version=F("config_version") + 1)


def integrations_changed(sender, *, integrations, **kwargs) -> None:
    """A POS-level integration is part of its locations' terminal config (the terminal runs it)."""
    owners = {integration.location or integration.merchant for integration in integrations
              if integration.definition.integration_type == IntegrationType.POS}
    for owner in owners:
        config_changed(owner)


def setting_value_check(*, key: str, owner: Owner, value: Any, locked: bool = False) -> SettingDefinition:
    """Why an override may not be saved (raised as an ApplicationError): unknown key, locked above,
    not lockable, card data, or a value its schema refuses. Returns the definition otherwise."""
    definition = _definition(key)
    _refuse_if_locked_above(definition, owner)
    if locked and not definition.lockable:
        raise NotAllowed(_("'%(key)s' cannot be locked.") % {"key": key}, code="setting_not_lockable")
    validate_against(definition.schema, value,
                     refusal=_("The value of '%(key)s' is not valid: fix the fields marked.") % {"key": key})
    return definition


@transaction.atomic
def setting_value_set(*, key: str, owner: Owner, value: Any, locked: bool = False, by=None) -> SettingValue:
    """Override `key` at a Partner, Merchant or Location; `locked` stops the levels below."""
    definition = setting_value_check(key=key, owner=owner, value=value, locked=locked)
    setting, _ = SettingValue.objects.update_or_create(
        definition=definition, **_owner_filter(owner),
        defaults={"level": level_of(owner), "value": value, "locked": locked, "updated_by": by},
    )
    config_changed(owner)
    logger.info("setting.overridden", extra={"key": key, "level": setting.level, "owner_id": owner.pk,
                                              "locked": locked, "by": getattr(by, "pk", None)})
    return setting


@transaction.atomic
def setting_value_clear(*, key: str, owner: Owner, by=None) -> bool:
    """Remove `owner`'s override of `key` (the level above applies again); False if there was none."""
    deleted, _ = SettingValue.objects.filter(definition=_definition(key), **_owner_filter(owner)).delete()
    if deleted:
        config_changed(owner)
        logger.info("setting.cleared", extra={"key": key, "level": level_of(owner), "owner_id": owner.pk,
                                               "by": getattr(by, "pk", None)})
    return bool(deleted)
