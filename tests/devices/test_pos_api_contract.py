"""The POS API's error contract: every answer under /api/pos/v1/ is JSON, errors included, a wrong
method is a 405 before anything else, and the OpenAPI document lists the errors each operation can
answer. (The whole document against the server: test_pos_openapi.py.)"""

import pytest
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from devices.api import PosApiView
from devices.catalog import CURSOR_PATTERN
from portal.urls import urlpatterns as portal_urlpatterns


class FailingView(PosApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a bug")


# The portal's URLs and one view that fails, for the 500 (pytest.mark.urls).
urlpatterns = [path("api/pos/v1/failing", FailingView.as_view()), *portal_urlpatterns]


@pytest.mark.parametrize("url", [
    "/api/pos/v1/nothing-here", "/api/pos/v1/", "/api/pos/v1", "/api/pos/v1/config/", "/api/pos/v1/records/null%2Cnull",
    "/api/pos/v1/records/7", "/api/pos/v1/records/e3e70682-c209-1cac-a29f-6fbed82c07cdX",
])
def test_a_path_the_pos_api_does_not_have_is_answered_404_in_json(db, url):
    answer = APIClient().get(url)

    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "not_found"
    assert "/api/pos/v1/openapi.json" in answer.json()["error"]["message"]


def test_a_path_outside_the_pos_api_keeps_the_portals_own_404(db):
    answer = Client().get("/portal/nothing-here/")
    assert answer.status_code == 404 and not answer.headers["Content-Type"].startswith("application/json")


@pytest.mark.urls(__name__)
def test_an_unexpected_exception_is_answered_500_in_json(db, caplog):
    answer = Client(raise_request_exception=False).get("/api/pos/v1/failing")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "server_error",
                                       "message": "Something went wrong on our side: try again later."}}
    assert "a bug" in caplog.text  # Django logged it with its traceback


@pytest.mark.parametrize(("method", "url"), [("delete", "/api/pos/v1/config"), ("post", "/api/pos/v1/catalog"),
                                             ("put", "/api/pos/v1/uploads"), ("patch", "/api/pos/v1/enroll")])
def test_a_method_an_operation_does_not_list_is_answered_405_with_allow_before_the_token_is_checked(db, method, url):
    answer = getattr(APIClient(), method)(url)  # no token at all

    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert answer.headers["Allow"]


def test_a_body_that_is_not_json_is_answered_415(db):
    answer = APIClient().post("/api/pos/v1/enroll", "code=AAAA&name=Register", content_type="application/x-www-form-urlencoded")

    assert answer.status_code == 415 and answer.json()["error"]["code"] == "unsupported_media_type"


@pytest.fixture
def document(db):
    return APIClient().get("/api/pos/v1/openapi.json").json()


def test_the_openapi_document_lists_the_errors_each_operation_can_answer(document):
    statuses = {(method.upper(), url): set(operation["responses"])
                for url, operations in document["paths"].items() for method, operation in operations.items()}

    assert statuses == {
        ("POST", "/api/pos/v1/enroll"): {"201", "400", "415", "422", "429", "500", "503"},  # 503: Turnstile
        ("GET", "/api/pos/v1/config"): {"200", "304", "401", "500"},
        ("POST", "/api/pos/v1/uploads"): {"200", "400", "401", "413", "415", "422", "500"},
        ("GET", "/api/pos/v1/records/{client_uuid}"): {"200", "401", "404", "500"},
        ("GET", "/api/pos/v1/catalog"): {"200", "400", "401", "500"},
        ("GET", "/api/pos/v1/prescriptions"): {"200", "304", "401", "500"},
        ("POST", "/api/pos/v1/prescriptions/lookup"): {"200", "400", "401", "404", "415", "422", "500"},
        ("POST", "/api/pos/v1/relay/enroll"): {"201", "400", "415", "422", "429", "500"},
        ("GET", "/api/pos/v1/relay/config"): {"200", "304", "401", "500"},
        ("POST", "/api/pos/v1/relay/heartbeat"): {"200", "400", "401", "409", "415", "422", "500"},
        ("POST", "/api/pos/v1/relay/prescriptions"): {"200", "400", "401", "409", "415", "422", "500"},
        ("GET", "/api/pos/v1/relay/outbox"): {"200", "400", "401", "409", "500"},
        ("POST", "/api/pos/v1/relay/acks"): {"200", "400", "401", "415", "500"},
    }
    errors = [response for operations in document["paths"].values() for operation in operations.values()
              for status, response in operation["responses"].items() if status >= "400"]
    assert all(response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
               for response in errors)
    assert "405" in document["info"]["description"] and "404" in document["info"]["description"]


def test_the_openapi_document_says_what_each_request_needs(document):
    enroll = document["paths"]["/api/pos/v1/enroll"]["post"]["requestBody"]
    upload = document["paths"]["/api/pos/v1/uploads"]["post"]["requestBody"]
    catalog = document["paths"]["/api/pos/v1/catalog"]["get"]

    assert enroll["required"] is True and upload["required"] is True
    fields = enroll["content"]["application/json"]["schema"]["properties"]
    assert (fields["code"]["minLength"], fields["code"]["maxLength"]) == (1, 40)
    assert (fields["name"]["minLength"], fields["name"]["maxLength"]) == (1, 100)
    assert catalog["parameters"][0]["schema"] == {"type": "string", "pattern": CURSOR_PATTERN}
    assert set(document["components"]["schemas"]) == {"Error", "SaleRecord", "ShiftCloseRecord", "RxPickupRecord",
                                                      "DeviceStatusRecord", "InventoryRecord", "CustomerRecord"}
