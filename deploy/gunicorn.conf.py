"""Gunicorn for the portal and the APIs (deploy/README.md): `gunicorn -c deploy/gunicorn.conf.py`.

Threaded workers: a request mostly waits on PostgreSQL, Redis or a vendor, so threads serve more of
them per core than processes would. Each process pools its database connections (DB_POOL_MAX, set
here to its thread count unless given): processes × DB_POOL_MAX is what the web tier can hold open
(the budget: docs/decisions/0046-deploy-grade-settings.md).
"""

import multiprocessing
import os

wsgi_app = "qiiub.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Read by qiiub/settings.py in each worker (the app loads after the fork, from this environment).
os.environ.setdefault("DB_POOL_MAX", str(threads))
os.environ.setdefault("DB_APPLICATION_NAME", "qiiub-web")
# A request the portal has not answered in 30 s is stuck: the worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT_S", "30"))
graceful_timeout = 30
keepalive = 5  # behind a load balancer that reuses connections; below its idle timeout
# Workers are replaced now and then, so a slow leak never grows without bound.
max_requests = 5000
max_requests_jitter = 500
# Only the proxy in front may say which client and scheme a request came from.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# The path only: a query string may carry a search term or a token, and the referrer another page's.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# The control socket's default path is shared by every gunicorn of the user; systemd does the control.
control_socket_disable = True
