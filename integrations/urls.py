from django.urls import path

from integrations import views
from qiiub import views as portal_views

app_name = "portal"

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("m/<slug:merchant_slug>/", views.merchant_dashboard, name="dashboard"),
    path("m/<slug:merchant_slug>/catalog/", views.catalog, name="catalog"),
    path("m/<slug:merchant_slug>/catalog/<str:code>/enable/", views.enable, name="enable"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/", views.detail, name="integration"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/configure/", views.configure, name="configure"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/credentials/", views.set_credentials, name="credentials"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/test/", views.test_connection, name="test"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/activate/", views.activate, name="activate"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/pause/", views.pause, name="pause"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/resume/", views.resume, name="resume"),
    path("m/<slug:merchant_slug>/integrations/<int:integration_id>/disconnect/", views.disconnect, name="disconnect"),
    path(
        "m/<slug:merchant_slug>/integrations/<int:integration_id>/deliveries/<int:delivery_id>/retry/",
        views.retry_delivery,
        name="retry-delivery",
    ),
]
