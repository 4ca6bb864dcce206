"""`python -m simulators.xero [--port N] [--client-id …] [--client-secret …]`: serves the Xero fake."""

from simulators.base import run_main
from simulators.xero import NAME, PORT, make_server
from simulators.xero.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

if __name__ == "__main__":
    run_main(NAME, "Xero identity + Connections + Accounting API simulator", PORT, make_server,
             client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
