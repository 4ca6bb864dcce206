"""The pharmacy's portal pages, included in the portal's pages (namespace `portal`)."""

from django.urls import path

from pharmacy import views

urlpatterns = [
    path("m/<slug:merchant_slug>/pharmacy/", views.pharmacy_locations, name="pharmacy"),
    path("m/<slug:merchant_slug>/pharmacy/access-log/", views.pharmacy_access_log, name="pharmacy-access-log"),
    path("m/<slug:merchant_slug>/pharmacy/<int:location_id>/", views.pharmacy_location, name="pharmacy-location"),
    path("m/<slug:merchant_slug>/pharmacy/<int:location_id>/relays/<int:relay_id>/revoke/",
         views.pharmacy_relay_revoke, name="pharmacy-relay-revoke"),
    path("m/<slug:merchant_slug>/pharmacy/<int:location_id>/returned/<int:prescription_id>/reset-done/",
         views.pharmacy_reset_done, name="pharmacy-reset-done"),
    path("m/<slug:merchant_slug>/pharmacy/<int:location_id>/pickups/", views.pharmacy_pickups,
         name="pharmacy-pickups"),
    path("m/<slug:merchant_slug>/pharmacy/<int:location_id>/pickups/<int:pickup_id>/signature",
         views.pharmacy_signature, name="pharmacy-signature"),
    path("p/<slug:partner_slug>/pharmacy/", views.partner_relay_health, name="pharmacy-partner"),
]
