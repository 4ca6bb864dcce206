"""`python -m simulators.mandrill [--port N]`: serves the Mandrill fake. Point the hub at it with
EMAIL_PROVIDER=mandrill MANDRILL_API_KEY=mandrill-test-key MANDRILL_API_URL=http://127.0.0.1:8781/api/1.0"""

from simulators.base import run_main
from simulators.mandrill import NAME, PORT, make_server

if __name__ == "__main__":
    run_main(NAME, "Mandrill transactional email API simulator", PORT, make_server)
