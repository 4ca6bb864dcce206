from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from devices.openapi import PREFIX as POS_API
from devices.openapi import PosOpenApiView
from integrations import api
from integrations.views import health as integration_health
from qiiub import views
from qiiub.auth import PortalLoginView, ThrottledAdminAuthenticationForm
from webhooks import receiver

admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("portal/language/", views.language_set, name="language-set"),
    path("portal/", include("integrations.urls")),
    path("api/v1/merchants/<slug:merchant_slug>/integrations/", api.merchant_integrations, name="api-integrations"),
    path(
        "api/v1/merchants/<slug:merchant_slug>/integrations/<int:integration_id>/",
        api.merchant_integration,
        name="api-integration",
    ),
    path(POS_API, include("devices.urls")),
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
