"""Settings, all from the environment, with safe development defaults.

`QIIUB_ENV=production` refuses to start while any development key is still in use.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from qiiub.error_reports import error_reports_start

BASE_DIR = Path(__file__).resolve().parent.parent

QIIUB_ENV = os.environ.get("QIIUB_ENV", "development")
DEBUG = os.environ.get("DJANGO_DEBUG", "1" if QIIUB_ENV == "development" else "0") == "1"

# Development defaults: fine on a laptop, refused in production (see _refuse_development_keys).
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
DEV_FERNET_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3QtZm9yLXByb2Q="
DEV_VAULT_KEY = "ZGV2LW9ubHktdmF1bHQta2V5LW5vdC1mb3ItcHJvZHU="
DEV_PHI_KEY = "ZGV2LW9ubHktcGhpLWtleS1ub3QtZm9yLXByb2R1Y3Q="
DEV_PHI_INDEX_KEY = "dev-only-phi-index-key-not-for-production"
DEV_OAUTH_CLIENT_SECRET = "qiiub-dev-secret"  # the development app's secret (refused in production)

SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt (rotation).
FERNET_KEYS = [k.strip() for k in os.environ.get("FERNET_KEYS", DEV_FERNET_KEY).split(",") if k.strip()]

# Secret vault: "local" (encrypted table, own key list) or "azure" (Azure Key Vault).
VAULT_BACKEND = os.environ.get("VAULT_BACKEND", "local")
VAULT_LOCAL_KEYS = [k.strip() for k in os.environ.get("VAULT_LOCAL_KEYS", DEV_VAULT_KEY).split(",") if k.strip()]
AZURE_KEY_VAULT_URL = os.environ.get("AZURE_KEY_VAULT_URL", "")

# Patient data (PHI) has its own keys, apart from the configuration and vault keys (DESIGN.md D11):
# in production both come from the secret vault through the environment. PHI_KEYS rotate like
# FERNET_KEYS (`manage.py reencrypt_phi`); PHI_INDEX_KEY makes the keyed hashes that find an Rx by
# its number without storing the number in clear.
PHI_KEYS = [k.strip() for k in os.environ.get("PHI_KEYS", DEV_PHI_KEY).split(",") if k.strip()]
PHI_INDEX_KEY = os.environ.get("PHI_INDEX_KEY", DEV_PHI_INDEX_KEY)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]


def _refuse_development_keys() -> None:
    in_use = []
    if SECRET_KEY == DEV_SECRET_KEY:
        in_use.append("SECRET_KEY")
    if DEV_FERNET_KEY in FERNET_KEYS:
        in_use.append("FERNET_KEYS")
    if DEV_PHI_KEY in PHI_KEYS:
        in_use.append("PHI_KEYS")
    if PHI_INDEX_KEY == DEV_PHI_INDEX_KEY:
        in_use.append("PHI_INDEX_KEY")
    if VAULT_BACKEND == "local" and DEV_VAULT_KEY in VAULT_LOCAL_KEYS:
        in_use.append("VAULT_LOCAL_KEYS")
    if DEBUG:
        in_use.append("DJANGO_DEBUG")
    for prefix, vendor in (("QBO", QUICKBOOKS), ("XERO", XERO)):
        if vendor["client_secret"] == DEV_OAUTH_CLIENT_SECRET:
            in_use.append(f"{prefix}_CLIENT_SECRET")
    if in_use:
        raise ImproperlyConfigured(
            "Refusing to start in production with development settings: " + ", ".join(in_use)
        )


def _vendor(prefix: str, endpoints: dict[str, tuple[str, str]]) -> dict:
    """A vendor's endpoints, name → (the vendor's URL, its path), each overridable by
    `{PREFIX}_{NAME}`; all of them at one address, with their paths, when `{PREFIX}_BASE_URL` is set
    (a local fake in the tests and the demo). With the hub's app credentials for that vendor."""
    base_url = os.environ.get(f"{prefix}_BASE_URL", "").rstrip("/")
    urls = {name: f"{base_url}{path}" if base_url else os.environ.get(f"{prefix}_{name.upper()}", real)
            for name, (real, path) in endpoints.items()}
    return {**urls, "client_id": os.environ.get(f"{prefix}_CLIENT_ID", "qiiub-dev-client"),
            "client_secret": os.environ.get(f"{prefix}_CLIENT_SECRET", DEV_OAUTH_CLIENT_SECRET)}


# Each vendor's endpoints: name → (the vendor's URL, its path under a `{PREFIX}_BASE_URL`).
QBO_ENDPOINTS = {
    "authorize_url": ("https://appcenter.intuit.com/connect/oauth2", "/connect/oauth2"),
    "token_url": ("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", "/oauth2/v1/tokens/bearer"),
    "revoke_url": ("https://developer.api.intuit.com/v2/oauth2/tokens/revoke", "/v2/oauth2/tokens/revoke"),
    # The sandbox company: QBO_API_URL=https://sandbox-quickbooks.api.intuit.com/v3
    "api_url": ("https://quickbooks.api.intuit.com/v3", "/v3"),
}
XERO_ENDPOINTS = {
    "authorize_url": ("https://login.xero.com/identity/connect/authorize", "/identity/connect/authorize"),
    "token_url": ("https://identity.xero.com/connect/token", "/connect/token"),
    "revoke_url": ("https://identity.xero.com/connect/revocation", "/connect/revocation"),
    "connections_url": ("https://api.xero.com/connections", "/connections"),
    "api_url": ("https://api.xero.com/api.xro/2.0", "/api.xro/2.0"),
}
QUICKBOOKS = {**_vendor("QBO", QBO_ENDPOINTS), "minor_version": int(os.environ.get("QBO_MINOR_VERSION", "75"))}
XERO = _vendor("XERO", XERO_ENDPOINTS)
# A connect is a form posted to the hub, which redirects to the vendor's consent page; browsers
# hold that redirect to the Content-Security-Policy's form-action, which allows these origins too.
CSP_FORM_ACTION_ORIGINS = sorted({"{0.scheme}://{0.netloc}".format(urlsplit(vendor["authorize_url"]))
                                  for vendor in (QUICKBOOKS, XERO)})
# Acumatica and Shopify run at each merchant's own address; set, every merchant's instance (or shop,
# under <this>/<shop domain>) is reached here instead.
ACUMATICA_BASE_URL = os.environ.get("ACUMATICA_BASE_URL", "").rstrip("/")
SHOPIFY_BASE_URL = os.environ.get("SHOPIFY_BASE_URL", "").rstrip("/")
# The Admin API version in every Shopify path (quarterly; each is supported for at least a year).
SHOPIFY_API_VERSION = os.environ.get("SHOPIFY_API_VERSION", "2025-10")
# Payment processors (payments app). Each base URL, when set, points every merchant's calls at one
# address instead (a local fake in the tests and the demo).
STRIPE_API_URL = os.environ.get("STRIPE_BASE_URL", "").rstrip("/") or "https://api.stripe.com"
STRIPE_API_VERSION = os.environ.get("STRIPE_API_VERSION", "2025-03-31.basil")
_ATHMOVIL_BASE_URL = os.environ.get("ATHMOVIL_BASE_URL", "").rstrip("/")
ATHMOVIL_PATH = "/api/business-transaction/ecommerce"
# ATH Móvil takes payments on one host and refunds on another.
ATHMOVIL_PAYMENTS_URL = f"{_ATHMOVIL_BASE_URL or 'https://payments.athmovil.com'}{ATHMOVIL_PATH}"
ATHMOVIL_REFUND_URL = f"{_ATHMOVIL_BASE_URL or 'https://www.athmovil.com'}{ATHMOVIL_PATH}"
# Dynamics Payments publishes no API: its address comes with the processor's specification.
_DYNAMICS_BASE_URL = os.environ.get("DYNAMICS_PAYMENTS_BASE_URL", "").rstrip("/")
DYNAMICS_PAYMENTS_API_URL = (f"{_DYNAMICS_BASE_URL}/WebApi/APaymentTokenApi" if _DYNAMICS_BASE_URL
                             else os.environ.get("DYNAMICS_PAYMENTS_API_URL", "").rstrip("/"))
# The portal's address as vendors see it, for OAuth redirects (registered with each vendor app);
# empty: taken from the request.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")

if QIIUB_ENV == "production":
    _refuse_development_keys()

SHARED_APPS = [
    "django_tenants",
    "django.contrib.admin",
    "django.contrib.auth",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "django_htmx",
    "qiiub",
    "partners",
    "merchants",
    "events",
    "integrations",
    "webhooks",
    "devices",
    "taxes",
    "compliance",
    "pharmacy",
    "payments",
    "portal",
    "seeds",
]
# A merchant's own schema: operational data only, few and stable tables.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "merchants.store",
    "pharmacy.store",
    "payments.store",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "merchants.Merchant"
TENANT_DOMAIN_MODEL = "merchants.Domain"
PUBLIC_SCHEMA_NAME = "public"
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# `migrate_schemas --executor=multiprocessing` (as make run does) uses this many processes.
TENANT_MULTIPROCESSING_MAX_PROCESSES = int(os.environ.get("TENANT_MIGRATION_PROCESSES", "2"))
# migrate_schemas skips the schemas already at the latest migration and keeps the template schema
# new merchants are cloned from (merchants/schemas/, ADR 0048).
GET_EXECUTOR_FUNCTION = "merchants.schemas.migrate.migration_executor"
MERCHANT_SCHEMA_TEMPLATE = "merchant_template"

MIDDLEWARE = [
    # First: every log line of the request, a POS API error's too, carries its id (and its merchant).
    "qiiub.log_context.RequestIdMiddleware",
    # Next: a request's time includes every other middleware, and every answer is counted.
    "qiiub.metrics.requests.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Above the rest: an error of any of them, or of a POS view, is still answered in JSON.
    "devices.middleware.PosApiErrorsMiddleware",
    "devices.middleware.NotModifiedConfigMiddleware",
    "pharmacy.middleware.NotModifiedReadyListMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # The signed-in user's language (chosen, else their merchant's), over LocaleMiddleware's guess.
    "merchants.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: a user idle too long (shorter for one who can see patient data) is signed out, told why.
    "merchants.middleware.IdleLogoffMiddleware",
    # After OTP's: a signed-in user who owes a second factor (a code, or setting one up) sees nothing else first.
    "portal.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "qiiub.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "qiiub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/qiiub")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Shown in pg_stat_activity, so an operator sees which kind of process holds each connection.
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ.get("DB_APPLICATION_NAME", "qiiub")
# Web processes pool their connections (deploy/gunicorn.conf.py sets DB_POOL_MAX): a process never
# holds more than DB_POOL_MAX, and a burst waits up to DB_POOL_TIMEOUT_S for one instead of opening
# more until PostgreSQL refuses ("too many clients"). Workers, beat and commands leave it at 0 and
# keep a persistent connection per thread (CONN_MAX_AGE; Django allows one or the other). ADR 0046.
DB_POOL_MAX = int(os.environ.get("DB_POOL_MAX", "0"))
if DB_POOL_MAX > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(DB_POOL_MAX, int(os.environ.get("DB_POOL_MIN", "1"))),
        "max_size": DB_POOL_MAX,
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT_S", "10")),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# A prefix of its own keeps another process's cache apart on the same Redis (the test session's
# failed sign-ins never lock the development portal out).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                      "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "")}}

# The broker: the Redis of the cache unless CELERY_BROKER_URL names another (RabbitMQ: amqp://…, ADR 0047).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
if CELERY_BROKER_URL.split("://", 1)[0] in ("amqp", "amqps", "pyamqp"):
    # Quorum queues are replicated and durable; the poll queue and the tests' queues are made on first use.
    CELERY_TASK_DEFAULT_QUEUE_TYPE = CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = "quorum"
    # They have no global QoS: Celery sees them and keeps the prefetch per consumer.
    CELERY_WORKER_DETECT_QUORUM_QUEUES = True
    # A countdown (retries, the dispatcher's waits, refund resumes) goes through RabbitMQ's native delayed
    # delivery, which routes only through topic exchanges; a direct one would hold the task in the worker.
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE = "topic"
    # A send returns once RabbitMQ has taken the message, so a task is never lost between client and broker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Tests give their worker a queue of its own so a running demo worker never takes their tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# Poll batches go to a queue of their own, so polling at scale never delays event deliveries.
CELERY_POLL_QUEUE = os.environ.get("CELERY_POLL_QUEUE", "integration-poll")
CELERY_TIMEZONE = "UTC"
# Celery's Django fixup closes every database connection around every task unless this is set; a
# new PostgreSQL backend per task cost more than the task. qiiub/celery.py applies CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = 10**9

# A POS upload may carry 5 MB (devices.uploads.MAX_BODY_BYTES), and DRF reads a JSON body whole,
# within this limit; Django's default (2.5 MB) refused the larger ones.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "qiiub.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per client address: guessing a one-time enrollment code is hopeless, and this keeps it so.
    "DEFAULT_THROTTLE_RATES": {"pos-enroll": os.environ.get("POS_ENROLL_RATE", "20/minute")},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Two-factor sign-in (merchants/two_factor.py): required of SystemAdmins, partner admins and merchant
# admins who can see patient data. Off in development, so the demo's logins take a password only;
# either way, a user who set it up is asked for a code.
TWO_FACTOR_REQUIRED = os.environ.get("TWO_FACTOR_REQUIRED", "0" if QIIUB_ENV == "development" else "1") == "1"
OTP_TOTP_ISSUER = "QIIUB Integration Hub"  # how authenticator apps name the account
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin's device pages show no key and no recovery code
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"
# Login throttling: this many failures per username in the window lock that account.
LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
# Per client address the limit is ten accounts' worth: a store's staff share one NAT address, and
# one person's typos must not lock them all out; a password sprayer still stops here.
LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "50"))
LOGIN_FAILURE_WINDOW_S = int(os.environ.get("LOGIN_FAILURE_WINDOW_S", "900"))
# Behind a reverse proxy, the request header holding the client address (e.g. HTTP_X_FORWARDED_FOR).
CLIENT_IP_META = os.environ.get("CLIENT_IP_META", "REMOTE_ADDR")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
# The portal's hours for users with no merchant of their own (partner admins, SystemAdmins) off a
# merchant's pages; on them, and for merchant admins, it is the merchant's time zone.
PORTAL_TIME_ZONE = os.environ.get("PORTAL_TIME_ZONE", "America/Puerto_Rico")
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Puerto Rico writes amounts as in the US (1,234.50), not as Spain does (1.234,50): `es` formats come from here.
FORMAT_MODULE_PATH = ["qiiub.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Email (qiiub/mail.py, ADR 0043): Django's console backend in development; EMAIL_PROVIDER=mandrill
# sends through Mandrill's API with django-anymail. An explicit EMAIL_BACKEND wins over both.
# `manage.py check --deploy` warns when production would deliver nothing (qiiub.W043).
EMAIL_PROVIDERS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "mandrill": "anymail.backends.mandrill.EmailBackend",
}
EMAIL_PROVIDER = os.environ.get("EMAIL_PROVIDER", "console")
if EMAIL_PROVIDER not in EMAIL_PROVIDERS:
    raise ImproperlyConfigured(f"EMAIL_PROVIDER must be one of {', '.join(EMAIL_PROVIDERS)}, not {EMAIL_PROVIDER!r}")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or EMAIL_PROVIDERS[EMAIL_PROVIDER]
ANYMAIL = {
    "MANDRILL_API_KEY": os.environ.get("MANDRILL_API_KEY", ""),
    # A local fake stands in here in the tests and the demo (simulators/mandrill).
    "MANDRILL_API_URL": os.environ.get("MANDRILL_API_URL", "https://mandrillapp.com/api/1.0"),
    # (connect, read) seconds: the first attempt runs in the caller (a poll, a page); a slow provider
    # is cut short and the email tried again by a task.
    "REQUESTS_TIMEOUT": (3.05, float(os.environ.get("EMAIL_TIMEOUT_S", "10"))),
}
if EMAIL_BACKEND == EMAIL_PROVIDERS["mandrill"] and not ANYMAIL["MANDRILL_API_KEY"]:
    raise ImproperlyConfigured("EMAIL_PROVIDER=mandrill needs MANDRILL_API_KEY")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "QIIUB Integration Hub <hub@qiiub.local>")

# The demo connector's vendor (the demo and sandbox integrations): a local service of `make run`.
DEMO_BASE_URL = os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8765")
CONNECTOR_TIMEOUT_S = float(os.environ.get("CONNECTOR_TIMEOUT_S", "10"))
# An HTTPS proxy for calls to vendors, if the network needs one. Read once here: the vendor session
# does not scan the environment (proxies, .netrc) on every call.
OUTBOUND_PROXY = os.environ.get("OUTBOUND_PROXY", "")

# Cloudflare Turnstile (bot check) on the portal's sign-in and terminal enrollment: on when both keys
# are set, off otherwise (development). Every answer is verified server-side, failing closed
# (qiiub/turnstile.py). `TURNSTILE_BASE_URL` points the script and siteverify at one address (the
# local simulator in the tests and the demo).
TURNSTILE_SITE_KEY = os.environ.get("TURNSTILE_SITE_KEY", "")
TURNSTILE_SECRET_KEY = os.environ.get("TURNSTILE_SECRET_KEY", "")
_TURNSTILE_BASE_URL = os.environ.get("TURNSTILE_BASE_URL", "").rstrip("/")
TURNSTILE_VERIFY_URL = (f"{_TURNSTILE_BASE_URL}/turnstile/v0/siteverify" if _TURNSTILE_BASE_URL else os.environ.get(
    "TURNSTILE_VERIFY_URL", "https://challenges.cloudflare.com/turnstile/v0/siteverify"))
TURNSTILE_SCRIPT_URL = (f"{_TURNSTILE_BASE_URL}/turnstile/v0/api.js" if _TURNSTILE_BASE_URL else os.environ.get(
    "TURNSTILE_SCRIPT_URL", "https://challenges.cloudflare.com/turnstile/v0/api.js"))
TURNSTILE_TIMEOUT_S = float(os.environ.get("TURNSTILE_TIMEOUT_S", "5"))

# Deploy-grade security (Django's deployment checklist; `manage.py check --deploy` is clean in
# production, tests/security/test_deploy_settings.py). Cookies are Secure and HTTPS is required in
# production; a development portal on http://127.0.0.1 keeps working.
_PRODUCTION = QIIUB_ENV == "production"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie, but the token is in the page anyway
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _PRODUCTION
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1" if _PRODUCTION else "0") == "1"
# A load balancer's probes and Prometheus reach these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# One year of HSTS in production (0 in development: a browser would remember it for localhost).
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if _PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("SECURE_HSTS_INCLUDE_SUBDOMAINS", "1") == "1"
# Consent to the browsers' preload list; nothing happens until the operator submits the domain at
# hstspreload.org (hard to undo: browsers ship the list). SECURE_HSTS_PRELOAD=0 withdraws it.
SECURE_HSTS_PRELOAD = os.environ.get("SECURE_HSTS_PRELOAD", "1" if _PRODUCTION else "0") == "1"
# Behind a proxy that ends TLS: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO (the header it sets,
# saying "https"). Only with a proxy that overwrites that header from clients.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# drf-spectacular would generate the API schema inside `check --deploy` and report its warnings
# (operationId collisions in the merchants' API) as deployment issues; the schema is its own concern.
SPECTACULAR_SETTINGS = {"ENABLE_DJANGO_DEPLOY_CHECK": False}
# Every portal user is signed out after this long without a request; one who can see patient data
# after PHI_IDLE_LOGOFF_S (below) if shorter (merchants/middleware.py IdleLogoffMiddleware).
SESSION_IDLE_TIMEOUT_S = int(os.environ.get("SESSION_IDLE_TIMEOUT_S", "1800"))
# The Content-Security-Policy (qiiub/security.py): only our own scripts and styles, no inline ones.
# CSP_REPORT_ONLY=1 sends it as Content-Security-Policy-Report-Only (browsers report, block nothing).
CSP_REPORT_ONLY = os.environ.get("CSP_REPORT_ONLY", "0") == "1"

# "json": one JSON object per line (a log collector's format), "plain": key=value (a person's).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if QIIUB_ENV == "production" else "plain")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT is json or plain, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "qiiub.log_context.LogContextFilter"}},
    "formatters": {
        "plain": {"()": "qiiub.logs.KeyValueFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "qiiub.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Error tracking (qiiub/error_reports.py): off unless SENTRY_DSN is set; performance traces off unless sampled.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
error_reports_start(dsn=SENTRY_DSN, environment=os.environ.get("SENTRY_ENVIRONMENT", QIIUB_ENV),
                    release=os.environ.get("SENTRY_RELEASE", ""),
                    traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")))

# The URL modules of the POS API (`/api/pos/v1/`), terminals' and the pharmacy relay's: served
# there and described together in its OpenAPI document.
POS_API_URLCONFS = ["devices.urls", "pharmacy.pos_urls"]

# Pharmacy (DESIGN.md D11): the store relay's timing, the registers' PHI sessions and retention.
PHARMACY_RELAY_HEARTBEAT_S = int(os.environ.get("PHARMACY_RELAY_HEARTBEAT_S", "15"))
PHARMACY_RELAY_TAKEOVER_AFTER_S = int(os.environ.get("PHARMACY_RELAY_TAKEOVER_AFTER_S", "120"))
PHARMACY_RELAY_POLL_S = int(os.environ.get("PHARMACY_RELAY_POLL_S", "5"))
# A portal user who can see patient data is signed out after this long without a request.
PHI_IDLE_LOGOFF_S = int(os.environ.get("PHI_IDLE_LOGOFF_S", "900"))
# The patient data of a prescription that left the ready list is purged after this many days;
# signature logs are kept 10 years (Medicare Part D, 42 CFR 423.505), the PHI access log 6 years
# (45 CFR 164.316); neither can be set shorter than that.
PHARMACY_READY_RETENTION_DAYS = int(os.environ.get("PHARMACY_READY_RETENTION_DAYS", "30"))
PHARMACY_SIGNATURE_RETENTION_YEARS = max(10, int(os.environ.get("PHARMACY_SIGNATURE_RETENTION_YEARS", "10")))
PHI_ACCESS_RETENTION_YEARS = max(6, int(os.environ.get("PHI_ACCESS_RETENTION_YEARS", "6")))

# Retention of the high-volume tables (DESIGN.md D18, ADR 0039), in days: qiiub/retention.py deletes
# what is older, hourly, in short batches. Each floor is what a page or a rule still reads.
# An event whose deliveries all went, with them and their attempts: a month of delivery history on
# the webhook and integration pages (their success and failure counts read the last 24 hours).
RETENTION_EVENT_DAYS = max(1, int(os.environ.get("RETENTION_EVENT_DAYS", "30")))
# A dead delivery, from when it died or was last replayed, keeps itself and its event this long: a
# quarter to replay it. Pending and held deliveries are kept whatever their age.
RETENTION_DEAD_DELIVERY_DAYS = max(1, int(os.environ.get("RETENTION_DEAD_DELIVERY_DAYS", "90")))
# A processed inbound webhook body. Its vendor id answers a redelivery as a repeat, so at least a
# week: vendors redeliver for up to two days. Unprocessed ones are kept.
RETENTION_INBOUND_WEBHOOK_DAYS = max(7, int(os.environ.get("RETENTION_INBOUND_WEBHOOK_DAYS", "30")))
# Sync logs (each integration keeps its latest run whatever its age); SystemAdmin's trend reads 14 days.
RETENTION_SYNC_LOG_DAYS = max(14, int(os.environ.get("RETENTION_SYNC_LOG_DAYS", "90")))
# What terminals report about their peripherals, in each merchant's schema.
RETENTION_DEVICE_STATUS_DAYS = max(1, int(os.environ.get("RETENTION_DEVICE_STATUS_DAYS", "30")))
# The merchant's books (sales with their lines, IVU and tenders; shift closes; stock changes) are
# records, not logs: at least 7 years, the longest period commonly asked of tax and accounting
# records. Counsel confirms before this floor is lowered.
RETENTION_BOOKS_YEARS = max(7, int(os.environ.get("RETENTION_BOOKS_YEARS", "7")))
# Rows per transaction (an outbox batch is this many events with their deliveries and attempts), and
# the most one run spends: the next run goes on where it stopped.
RETENTION_BATCH_ROWS = int(os.environ.get("RETENTION_BATCH_ROWS", "1000"))
RETENTION_RUN_BUDGET_S = int(os.environ.get("RETENTION_RUN_BUDGET_S", "600"))

CELERY_BEAT_SCHEDULE = {
    "enqueue-due-syncs": {"task": "integrations.enqueue_due_syncs", "schedule": 60.0},
    # /readyz: a worker ran this within HEALTH_HEARTBEAT_MAX_AGE_S (a stale one is dropped, not run late).
    "heartbeat": {"task": "qiiub.heartbeat", "schedule": 30.0, "options": {"expires": 30}},
    "sweep-outbox": {"task": "events.sweep", "schedule": float(os.environ.get("EVENT_SWEEP_INTERVAL_S", "30"))},
    # Hourly, so each merchant's reminder goes out early in its own day, whatever its time zone.
    "remind-ivu-returns": {"task": "taxes.remind_ivu_returns", "schedule": 3600.0},
    # Partners' daily digest of their stores' problems, early morning in Puerto Rico (12:00 UTC).
    "partner-digests": {"task": "integrations.partner_digests", "schedule": crontab(hour=12, minute=0)},
    # A bulk job whose worker died goes on within minutes, not after the broker's hour of visibility.
    "resume-stalled-bulk-jobs": {"task": "partners.bulk_jobs_resume_stalled", "schedule": 120.0},
    # Patient data past its retention period, daily (04:30 in Puerto Rico).
    "pharmacy-retention": {"task": "pharmacy.retention_sweep", "schedule": crontab(hour=8, minute=30)},
    # Card data discovery, weekly, at a quiet hour (Sunday 03:00 in Puerto Rico).
    "scan-card-data": {"task": "compliance.scan_card_data", "schedule": crontab(day_of_week=0, hour=7, minute=0)},
    # Retention (ADR 0039): hourly, so each run deletes an hour's worth; off the hour's other work.
    "retention": {"task": "qiiub.retention_run", "schedule": crontab(minute=17)},
    # Refunds whose processor answer was lost: asked again with the same key (one refund however often).
    "resume-pending-refunds": {"task": "payments.refunds_resume_pending", "schedule": crontab(minute="*/10")},
}
CELERY_IMPORTS = ["events.tasks", "webhooks.tasks", "payments.tasks", "qiiub.tasks"]
# /metrics (Prometheus) answers a request bearing `Authorization: Bearer <METRICS_TOKEN>` (empty: no
# token opens it), or one from these networks (the client address as sign-in throttling reads it;
# a request relayed by a proxy never counts as local unless CLIENT_IP_META names the proxy's header).
# With gunicorn, PROMETHEUS_MULTIPROC_DIR (read by prometheus_client) sums its worker processes.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(network.strip(), strict=False)
    for network in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",") if network.strip()
]
# /readyz is "not ready" when no worker has run beat's 30 s heartbeat for this long.
HEALTH_HEARTBEAT_MAX_AGE_S = int(os.environ.get("HEALTH_HEARTBEAT_MAX_AGE_S", "90"))
# The event bus port: "celery" (Celery on its broker, Redis or RabbitMQ; one task per batch of deliveries) or "azure_service_bus".
EVENT_BUS = os.environ.get("EVENT_BUS", "celery")
AZURE_SERVICE_BUS_CONNECTION = os.environ.get("AZURE_SERVICE_BUS_CONNECTION", "")

# Outbound webhooks. Private / loopback targets only in development (local receivers).
WEBHOOK_ALLOW_PRIVATE_TARGETS = os.environ.get(
    "WEBHOOK_ALLOW_PRIVATE_TARGETS", "1" if QIIUB_ENV == "development" else "0"
) == "1"
WEBHOOK_TIMEOUT_S = 15  # a 2xx within 15 s is success
# A CA bundle to trust for webhook receivers (development receivers with their own certificate).
WEBHOOK_CA_BUNDLE = os.environ.get("WEBHOOK_CA_BUNDLE", "") or True
EVENT_DELIVERY_LEASE_S = int(os.environ.get("EVENT_DELIVERY_LEASE_S", "120"))
EVENT_SWEEP_GRACE_S = int(os.environ.get("EVENT_SWEEP_GRACE_S", "30"))
# A pending delivery nobody claimed for this long is taken as a lost message and sent again.
EVENT_RESEND_AFTER_S = int(os.environ.get("EVENT_RESEND_AFTER_S", "300"))
# The batch dispatcher (events/dispatch.py): deliveries per task, send threads per worker process,
# deliveries a process holds at once (claimed, not yet recorded), and sends at once to one
# receiver (a merchant integration or webhook endpoint) per process, unless its connector says less.
EVENT_DISPATCH_BATCH = int(os.environ.get("EVENT_DISPATCH_BATCH", "100"))
EVENT_SEND_THREADS = int(os.environ.get("EVENT_SEND_THREADS", "16"))
EVENT_MAX_IN_FLIGHT = int(os.environ.get("EVENT_MAX_IN_FLIGHT", "400"))
EVENT_ENDPOINT_CONCURRENCY = int(os.environ.get("EVENT_ENDPOINT_CONCURRENCY", "4"))
