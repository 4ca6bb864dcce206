"""`python -m simulators.stripe [--port N]`: serves the Stripe fake."""

from simulators.base import run_main
from simulators.stripe import NAME, PORT, make_server

if __name__ == "__main__":
    run_main(NAME, "Stripe API (payments and reconciliation) simulator", PORT, make_server)
