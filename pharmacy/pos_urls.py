from django.urls import path

from pharmacy import api

app_name = "pharmacy_pos"

urlpatterns = [
    path("prescriptions", api.ReadyListView.as_view(), name="ready_list"),
    path("prescriptions/lookup", api.PrescriptionLookupView.as_view(), name="lookup"),
    path("relay/enroll", api.RelayEnrollView.as_view(), name="relay_enroll"),
    path("relay/config", api.RelayConfigView.as_view(), name="relay_config"),
    path("relay/heartbeat", api.RelayHeartbeatView.as_view(), name="relay_heartbeat"),
    path("relay/prescriptions", api.RelayPrescriptionsView.as_view(), name="relay_prescriptions"),
    path("relay/outbox", api.RelayOutboxView.as_view(), name="relay_outbox"),
    path("relay/acks", api.RelayAcksView.as_view(), name="relay_acks"),
]
