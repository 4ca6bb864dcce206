"""`python -m simulators.acumatica [--port N]`: serves the Acumatica fake."""

from simulators.acumatica import NAME, PORT, make_server
from simulators.base import run_main

if __name__ == "__main__":
    run_main(NAME, "Acumatica contract-based REST API simulator", PORT, make_server)
