"""`python -m simulators.athmovil [--port N]`: serves the ATH Móvil fake."""

from simulators.athmovil import NAME, PORT, make_server
from simulators.base import run_main

if __name__ == "__main__":
    run_main(NAME, "ATH Móvil (Evertec) Payment Button API simulator", PORT, make_server)
