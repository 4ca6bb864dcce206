"""`python -m simulators.quickbooks [--port N] [--client-id …] [--client-secret …]`: serves the QuickBooks fake."""

from simulators.base import run_main
from simulators.quickbooks import NAME, PORT, make_server
from simulators.quickbooks.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

if __name__ == "__main__":
    run_main(NAME, "QuickBooks Online + Intuit OAuth simulator", PORT, make_server,
             client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
