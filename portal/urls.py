"""Every address of the hub: the portal's pages (namespace `portal`), the merchants' API, the POS API,
vendors' inbound webhooks and the admin."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from compliance import views as compliance_views
from devices import views as device_views
from devices.openapi import PREFIX as POS_API
from devices.openapi import PosOpenApiView
from integrations import api
from integrations.views import catalog, detail, issues, mappings, oauth, syncs
from integrations.views import health as integration_health
from partners import views as partner_views
from portal import metrics, two_factor, views
from portal.admin_site import HubAdminSite
from qiiub import health
from qiiub.auth import PortalLoginView
from taxes import views as tax_views
from webhooks import receiver

pages = [
    path("", views.home, name="home"),
    path("m/<slug:merchant_slug>/", views.merchant_dashboard, name="dashboard"),
    path("m/<slug:merchant_slug>/card-data/acknowledge/", compliance_views.card_events_acknowledge,
         name="card-events-acknowledge"),
    path("m/<slug:merchant_slug>/issues/", issues.issues, name="issues"),
    path("m/<slug:merchant_slug>/catalog/", catalog.catalog, name="catalog"),
    path("m/<slug:merchant_slug>/catalog/<str:code>/enable/", catalog.enable, name="enable"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/", detail.detail, name="integration"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/configure/", detail.configure, name="configure"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/credentials/", detail.set_credentials, name="credentials"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/test/", detail.test_connection, name="test"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/connect/", oauth.oauth_connect, name="oauth-connect"),
    path("oauth/callback/", oauth.oauth_callback, name="oauth-callback"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/mappings/", mappings.mappings, name="mappings"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/mappings/set/", mappings.mapping_set,
         name="mapping-set"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/sync/", syncs.sync_now, name="sync-now"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/syncs/", syncs.sync_logs, name="sync-logs"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/syncs/<int:log_id>/", syncs.sync_log,
         name="sync-log"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/ivu/<int:filing_id>/filed/", tax_views.ivu_mark_filed,
         name="ivu-filed"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/activate/", detail.activate, name="activate"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/pause/", detail.pause, name="pause"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/resume/", detail.resume, name="resume"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/disconnect/", detail.disconnect, name="disconnect"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/export/", detail.export_file, name="export"),
    path(
        "m/<slug:merchant_slug>/integrations/<int:integration_id>/deliveries/<int:delivery_id>/retry/",
        detail.retry_delivery,
        name="retry-delivery",
    ),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/deliveries/retry-dead/",
         detail.retry_dead_deliveries, name="problem-retry-deliveries"),
    path("m/<slug:merchant_slug>/webhooks/", include("webhooks.urls")),
    path("m/<slug:merchant_slug>/terminals/", device_views.terminal_list, name="terminals"),
    path("m/<slug:merchant_slug>/terminals/<int:terminal_id>/revoke/", device_views.terminal_revoke,
         name="terminal-revoke"),
    path("m/<slug:merchant_slug>/settings/", device_views.merchant_settings, name="merchant-settings"),
    path("m/<slug:merchant_slug>/settings/<int:location_id>/", device_views.location_settings,
         name="location-settings"),
    path("p/<slug:partner_slug>/", partner_views.partner_dashboard, name="partner"),
    path("p/<slug:partner_slug>/settings/", device_views.partner_settings, name="partner-settings"),
    path("p/<slug:partner_slug>/", include("partners.urls")),
    path("", include("pharmacy.urls")),
    path("", include("payments.urls")),
]

admin.site.__class__ = HubAdminSite  # the admin asks for the second factor too (django-otp's documented way)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", two_factor.status, name="two-factor"),
    path("accounts/two-factor/verify/", two_factor.verify, name="two-factor-verify"),
    path("accounts/two-factor/setup/", two_factor.setup, name="two-factor-setup"),
    path("accounts/two-factor/recovery-codes/", two_factor.recovery_codes, name="two-factor-recovery-codes"),
    path("accounts/two-factor/disable/", two_factor.disable, name="two-factor-disable"),
    path("portal/language/", views.language_set, name="language-set"),
    path("portal/", include((pages, "portal"))),
    path("api/v1/merchants/<slug:merchant_slug>/integrations/", api.merchant_integrations, name="api-integrations"),
    path(
        "api/v1/merchants/<slug:merchant_slug>/integrations/<int:integration_id>/",
        api.merchant_integration,
        name="api-integration",
    ),
    *(path(POS_API, include(urlconf)) for urlconf in settings.POS_API_URLCONFS),
    path(f"{POS_API}openapi.json", PosOpenApiView.as_view(), name="pos-openapi"),
    path("hooks/in/<int:integration_id>/", receiver.receive, name="inbound-webhook"),
    path("admin/health/", admin.site.admin_view(integration_health.system_health), name="system-health"),
    # The event bus and webhook models moved to their own apps: their old admin addresses still lead there.
    re_path(
        r"^admin/integrations/(?P<page>(outboxevent|eventdelivery|deliveryattempt)/.*)$",
        RedirectView.as_view(url="/admin/events/%(page)s", query_string=True),
    ),
    re_path(
        r"^admin/integrations/(?P<page>(webhookendpoint|inboundwebhook)/.*)$",
        RedirectView.as_view(url="/admin/webhooks/%(page)s", query_string=True),
    ),
    path("admin/", admin.site.urls),
]
