"""`python -m simulators.pharmacycom [--port N] [--drop-folder DIR] [--tls] [--password P]`: the Rx30-mode fake."""

import argparse

from simulators.pharmacycom import NAME, PORT, make_server

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m simulators.pharmacycom",
                                     description="Rx30-mode pharmacy system simulator (PharmacyCOMv1 SOAP, file drop)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--drop-folder", help="also export ready.txt to DIR and sweep DIR/outbound (file-drop mode)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a new self-signed certificate")
    parser.add_argument("--password", help="encrypt SOAP messages as PharmacyCOM's Encryption option does")
    options = parser.parse_args()
    server = make_server(port=options.port, drop_folder=options.drop_folder, tls=options.tls, password=options.password)
    scheme = "https" if options.tls else "http"
    print(f"{NAME} simulator on {scheme}://127.0.0.1:{server.server_port}/PharmacyCOM.asmx", flush=True)
    if options.tls:
        print(f"trust {server.cert_path}", flush=True)
    server.serve_forever()
