"""`python -m simulators.dynamics_payments [--port N]`: serves the Dynamics Payments fake."""

from simulators.base import run_main
from simulators.dynamics_payments import NAME, PORT, make_server

if __name__ == "__main__":
    run_main(NAME, "Dynamics Payments (token API, unofficial) simulator", PORT, make_server)
