from django.urls import path

from devices import api

app_name = "pos"

urlpatterns = [
    path("enroll", api.EnrollView.as_view(), name="enroll"),
    path("config", api.ConfigView.as_view(), name="config"),
    path("uploads", api.UploadsView.as_view(), name="uploads"),
    path("records/<uuid:client_uuid>", api.RecordView.as_view(), name="record"),
    path("catalog", api.CatalogView.as_view(), name="catalog"),
]
