"""`python -m simulators.shopify [--port N]`: serves the Shopify fake."""

from simulators.base import run_main
from simulators.shopify import NAME, PORT, make_server

if __name__ == "__main__":
    run_main(NAME, "Shopify Admin API (inventory) simulator", PORT, make_server)
