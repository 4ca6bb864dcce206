"""`python -m simulators.turnstile [--port N]`: serves the Turnstile fake."""

from simulators.base import run_main
from simulators.turnstile import NAME, PORT, make_server

if __name__ == "__main__":
    run_main(NAME, "Cloudflare Turnstile simulator (widget script and siteverify)", PORT, make_server)
