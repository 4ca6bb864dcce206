"""A local fake of Cloudflare Turnstile, for the tests and `make run`: the widget's script and siteverify.

As Cloudflare documents (developers.cloudflare.com/turnstile): `GET /turnstile/v0/api.js` renders every
`<div class="cf-turnstile" data-sitekey=… data-action=…>` of the page with a hidden input `cf-turnstile-response`
(or `data-response-field-name`) that receives the token; `POST /turnstile/v0/siteverify` takes `secret`, `response`,
`remoteip` (form-encoded or JSON) and answers 200 `{"success", "challenge_ts", "hostname", "action", "cdata",
"error-codes": [], "metadata"}` or `{"success": false, "error-codes": [...]}` with `missing-input-secret`,
`invalid-input-secret`, `missing-input-response`, `invalid-input-response`, `timeout-or-duplicate`, `bad-request`.
A token is valid once and for 300 s, and at most 2048 characters. The test secret keys behave as documented:
`1x0000000000000000000000000000000AA` always passes, `2x0000000000000000000000000000000AA` always fails
(`invalid-input-response`), `3x0000000000000000000000000000000AA` always answers `timeout-or-duplicate`.

This fake's own: the widget asks `GET /turnstile/v0/challenge.js?sitekey&action&hostname&widget` for its token, a
script that hands the token to api.js (the real widget runs an iframe); no challenge is shown, every visitor passes.
One site key and its secret (`make_server`'s, the DEMO_ ones by default) issue and verify tokens; a site key it does
not know renders an error and no token. Steering, `POST /_control`: `{"reset": true}`, `{"fail": {"status": 500 |
502 | 503, "count": N}}` (the next N siteverify calls answer that status), `{"delay_s": 5}`. `GET /_state`:
`{"issued", "verifications": [{"secret" (masked), "remoteip", "success", "error_codes", "action"}]}` (no tokens).
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.turnstile.handler import TurnstileHandler
from simulators.turnstile.state import DEMO_SECRET_KEY, DEMO_SITE_KEY, TurnstileState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it (Turnstile stays off until
# TURNSTILE_SITE_KEY and TURNSTILE_SECRET_KEY are set too: the DEMO_ keys below work with it).
SERVES, PORT, NAME = "TURNSTILE_BASE_URL", 8775, "Turnstile"

__all__ = ["DEMO_SECRET_KEY", "DEMO_SITE_KEY", "NAME", "PORT", "SERVES", "make_server"]


def make_server(host: str = "127.0.0.1", port: int = 0, *, site_key: str = DEMO_SITE_KEY,
                secret_key: str = DEMO_SECRET_KEY) -> ThreadingHTTPServer:
    return serve(TurnstileHandler, TurnstileState(site_key, secret_key), host, port)
