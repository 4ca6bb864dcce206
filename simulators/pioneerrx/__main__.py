"""`python -m simulators.pioneerrx [--port N] [--tls] [--api-key …] [--shared-secret …]`: serves the PioneerRx fake."""

import argparse

from simulators.pioneerrx import DEFAULT_API_KEY, DEFAULT_SHARED_SECRET, NAME, PORT, make_server

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m simulators.pioneerrx",
                                     description="PioneerRx POS Universal API simulator (RxQuery, RxComplete)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a new self-signed certificate")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--shared-secret", default=DEFAULT_SHARED_SECRET)
    options = parser.parse_args()
    server = make_server(port=options.port, api_key=options.api_key, shared_secret=options.shared_secret,
                         tls=options.tls)
    scheme = "https" if options.tls else "http"
    print(f"{NAME} simulator on {scheme}://127.0.0.1:{server.server_port}/api/", flush=True)
    if options.tls:
        print(f"trust {server.cert_path}", flush=True)
    server.serve_forever()
