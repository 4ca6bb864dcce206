from django.urls import path, register_converter
from django.urls.converters import UUIDConverter

from devices import api

app_name = "pos"


class AnyCaseUUIDConverter(UUIDConverter):
    """A UUID in upper or lower case (Django's own takes lower case only): a terminal asks about a
    record with the client UUID it uploaded, which the upload accepted in either case."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


register_converter(AnyCaseUUIDConverter, "any_case_uuid")

urlpatterns = [
    path("enroll", api.EnrollView.as_view(), name="enroll"),
    path("config", api.ConfigView.as_view(), name="config"),
    path("uploads", api.UploadsView.as_view(), name="uploads"),
    path("records/<any_case_uuid:client_uuid>", api.RecordView.as_view(), name="record"),
    path("catalog", api.CatalogView.as_view(), name="catalog"),
]
