"""Connectors share one keep-alive HTTP session per thread across merchants: nothing of one
merchant may ride along on the next one's calls."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.connectors.demo import DemoConnector
from qiiub.http import shared_session


@pytest.fixture
def cookie_setting_vendor(settings):
    """A vendor that answers every call with a session cookie and notes what each call carried."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002
            return

        def do_GET(self):
            seen.append((self.headers.get("Authorization", ""), self.headers.get("Cookie")))
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "vendor_session=belongs-to-one-merchant; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.DEMO_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    yield seen
    server.shutdown()


@pytest.mark.security
def test_the_shared_vendor_session_carries_nothing_of_one_merchant_into_the_next_call(cookie_setting_vendor):
    # when two merchants' connectors call the same vendor, one after the other, on this thread
    DemoConnector(configuration={}, credentials={"access_token": "tok-merchant-a"}).test_connection()
    DemoConnector(configuration={}, credentials={"access_token": "tok-merchant-b"}).test_connection()

    # then each call carried only its own token, and no cookie the vendor set for the first
    assert cookie_setting_vendor == [("Bearer tok-merchant-a", None), ("Bearer tok-merchant-b", None)]
    assert not shared_session().cookies
    assert "Authorization" not in shared_session().headers


@pytest.mark.security
def test_the_vendor_session_ignores_the_machines_netrc_and_proxy_variables(cookie_setting_vendor, tmp_path, monkeypatch):
    # given a .netrc holding an operator's password for the vendor's host, and a proxy variable
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login operator password machine-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there

    # when a connector calls the vendor
    DemoConnector(configuration={}, credentials={"access_token": "tok-merchant-a"}).test_connection()

    # then the call went direct and carried the merchant's token, not the machine's credential
    assert cookie_setting_vendor == [("Bearer tok-merchant-a", None)]
