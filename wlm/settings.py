"""Settings of WiFi License Manager, read from environment variables.

Every variable has a working default for a local run (SQLite in ``data/``); the table
in README.md ("Configuration") lists them, docs/deploy.md says what production sets.
"""

import hashlib
import hmac
import ipaddress
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from wlm.lib.env import env_bool, env_int, env_list, env_str, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", False)
# SECRET_KEY from the environment; a local run keeps a random one in the data folder.
SECRET_KEY = env_str("SECRET_KEY", "") or local_secret_key(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # OpClass of the lists' trigram indexes (wlm.lib.migrations); inert on SQLite
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "django_countries",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "wlm.operations",
    "wlm.tenancy",
    "wlm.audit",
    "wlm.locations",
    "wlm.licenses",
    "wlm.connections",
    "wlm.notifications",
    "wlm.dataplane",
    "wlm.retention",
    "wlm.dashboard",
    "wlm.demo",
]

MIDDLEWARE = [
    # first: counts and times every answer, the other middleware's too (wlm_http_*)
    "wlm.operations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise (static files keep their long cache headers, no policy needed) and
    # above the rest, so the answers other middleware make (redirects, CSRF refusals) get
    # them too: the Content-Security-Policy, and no-store on everything else.
    "wlm.lib.headers.CSPMiddleware",
    "wlm.lib.headers.NoStoreMiddleware",
    # the client's address and user agent for the audit entries a request writes
    "wlm.audit.middleware.AuditMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # a logged-in user's own language over the browser's (wlm/tenancy/language.py)
    "wlm.tenancy.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "wlm.urls"
WSGI_APPLICATION = "wlm.wsgi.application"
ASGI_APPLICATION = "wlm.asgi.application"

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
                "wlm.tenancy.context_processors.actor",
            ],
            # the pages' small helpers (sort headers, badges): wlm/lib is not an app
            "libraries": {"wlm": "wlm.lib.templatetags"},
        },
    },
]

# --- Database --------------------------------------------------------------
# SQLite (default) runs in WAL mode with IMMEDIATE transactions so that
# concurrent writers wait for the lock instead of failing; PostgreSQL uses
# psycopg 3 with persistent connections.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'wlm.sqlite3'}")
# "pgbouncer" when DATABASE_URL names PgBouncer in transaction mode, not PostgreSQL itself
DATABASE_POOLER = env_str("DATABASE_POOLER", "").strip().lower()
_db = dj_database_url.parse(DATABASE_URL)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000;"
        ),
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # No prepared statements (psycopg's prepare_threshold None, Django's default, said
    # here so that it stays so): a statement prepared on one server connection is unknown
    # to the next one a pooler hands out.
    _db.setdefault("OPTIONS", {})["prepare_threshold"] = None
    if DATABASE_POOLER == "pgbouncer":
        # PgBouncer in transaction mode (docs/operations.md, "PgBouncer"): server-side
        # cursors only inside a transaction (wlm/lib/pooled), and no `options` startup
        # parameter (PgBouncer refuses it): JIT is switched off for the database instead.
        _db["ENGINE"] = "wlm.lib.pooled"
    else:
        # No JIT: it compiled the lists' plans whose cost is estimated high (a LIMIT over
        # filters on a million rows) for ~300 ms, ten times what running them takes
        # (docs/performance.md).
        _db["OPTIONS"].setdefault("options", "-c jit=off")
    # A database that does not answer is an error within seconds, never a request that
    # hangs (docs/dataplane.md, "When the database is away"); a refused one is at once.
    _db["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 3))
else:
    raise ImproperlyConfigured(f"Unsupported DATABASE_URL engine: {_db['ENGINE']}")
if DATABASE_POOLER and (DATABASE_POOLER != "pgbouncer" or _db["ENGINE"] != "wlm.lib.pooled"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER must be empty or 'pgbouncer' (with a postgres:// DATABASE_URL), "
        f"got {DATABASE_POOLER!r}"
    )
# Persistent connections on both: no connect (and no PRAGMAs) per request.
_db["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 600)
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

# The cache holds the throttling counters. In the database, so every web process
# (and every machine behind a load balancer) counts the same attempts; its table is made
# by a migration (tenancy 0006_cache_table), so `migrate` is the whole setup. A cache that fails
# anyway logs an error and throttles nothing rather than failing the request
# (wlm/lib/cache.py). Room for the logins' known addresses (30 days) beside the counters.
CACHES = {
    "default": {
        "BACKEND": "wlm.lib.cache.FailOpenDatabaseCache",
        "LOCATION": "wlm_cache",
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)  # seconds

# --- I18n -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# the pages' date formats per language (ISO in English, dd/mm/yyyy in Spanish): wlm/formats
FORMAT_MODULE_PATH = ["wlm.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by the app through WhiteNoise) --------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (manage.py check --deploy passes with DEBUG=0) ----------------
SECURE_SSL = env_bool("SECURE_SSL", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every answer: scripts and styles only from the
# app's own files (no inline script, no eval, no inline style; htmx is told not to inject
# its indicator style), images also as data: URIs (Pico's icons), no plugins, no <base>,
# no framing, forms only to the app. Redoc and DRF's browsable API allow inline styles
# (wlm/lib/headers.py); docs/pages.md says why.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
SILENCED_SYSTEM_CHECKS = [
    # TLS is terminated by the load balancer in front of the app (docs/deploy.md), which
    # usually redirects plain HTTP itself; the app's redirect is opt-in
    # (SECURE_SSL_REDIRECT=1).
    "security.W008",
]

# --- E-mail -----------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "licenses@wifi-license-manager.local")
# SMTP once EMAIL_HOST is set; until then (a local `make run`) mail is printed by the
# notifier on its console instead of failing against a server that is not there.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST", "")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# --- Notices (wlm.notifications; docs/notifications.md) -----------------------
NOTIFIER_INTERVAL = env_int("NOTIFIER_INTERVAL", 60)  # seconds between passes
# Workers (threads, each its own connection) a notifier puts on the bulk jobs of the
# licenses list, on PostgreSQL (SKIP LOCKED); SQLite has one writer: one worker.
BULK_WORKERS = env_int("BULK_WORKERS", 2)
if BULK_WORKERS < 1:
    raise ImproperlyConfigured(f"BULK_WORKERS must be at least 1, got {BULK_WORKERS}")
NOTICE_MAX_ATTEMPTS = env_int("NOTICE_MAX_ATTEMPTS", 8)  # then a delivery is "failed"
NOTICE_RETRY_BASE_SECONDS = env_int("NOTICE_RETRY_BASE_SECONDS", 60)  # doubles each retry
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10)  # seconds for a whole request, not per read
# How long a notifier's claim on deliveries lasts (wlm.notifications.worker.LEASE): a
# notifier that dies holding one leaves those deliveries to the others until it ends. A
# send starts only with a fifth of it left, which must outlast one send.
NOTICE_LEASE_SECONDS = env_int("NOTICE_LEASE_SECONDS", 300)
if max(EMAIL_TIMEOUT, WEBHOOK_TIMEOUT) * 5 > NOTICE_LEASE_SECONDS:  # a fifth outlasts a send
    raise ImproperlyConfigured(
        "NOTICE_LEASE_SECONDS must be at least five times EMAIL_TIMEOUT and WEBHOOK_TIMEOUT "
        f"(a fifth of the lease must outlast one send), got {NOTICE_LEASE_SECONDS}"
    )
# Webhooks go to public addresses only (wlm.lib.outbound); this admits loopback and
# private networks too, for development and tests. Never in production.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)

# --- Probes and metrics (wlm.operations; docs/operations.md) ---------------------
# /readyz fails when no notifier has beaten within this many of its intervals
# (NOTIFIER_INTERVAL or its --interval); with READYZ_REQUIRE_NOTIFIER=0 a stale notifier
# is reported but the web processes stay ready.
READYZ_REQUIRE_NOTIFIER = env_bool("READYZ_REQUIRE_NOTIFIER", True)
READYZ_NOTIFIER_INTERVALS = env_int("READYZ_NOTIFIER_INTERVALS", 5)
# Who may scrape /metrics: the peer addresses of METRICS_ALLOW (CIDR, comma-separated; ""
# for none), or anyone sending "Authorization: Bearer <METRICS_TOKEN>". Only the token's
# SHA-256 is kept (METRICS_TOKEN_SHA256 may be given instead of the token).
METRICS_ALLOW = env_list("METRICS_ALLOW", ["127.0.0.1/32", "::1/128"])
try:
    for _network in METRICS_ALLOW:
        ipaddress.ip_network(_network, strict=False)
except ValueError as _error:
    raise ImproperlyConfigured(f"METRICS_ALLOW: {_error}") from None
METRICS_TOKEN_SHA256 = env_str("METRICS_TOKEN_SHA256", "").strip().lower() or (
    hashlib.sha256(env_str("METRICS_TOKEN", "").encode()).hexdigest()
    if env_str("METRICS_TOKEN", "")
    else ""
)

# --- Retention (wlm.retention; docs/operations.md, "Retention and sizes") -----------
# What grows with time is deleted by the notifier after each pass, oldest first, in
# batches of RETENTION_BATCH_SIZE rows (each its own short transaction), at most
# RETENTION_BATCHES batches of each kind a pass. Days: 0 keeps that kind forever.
RETENTION_CONNECTIONS_DAYS = env_int("RETENTION_CONNECTIONS_DAYS", 400)  # daily aggregates
RETENTION_NOTICES_DAYS = env_int("RETENTION_NOTICES_DAYS", 365)  # decided notices, deliveries
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 730)  # the audit log
RETENTION_BULK_JOBS_DAYS = env_int("RETENTION_BULK_JOBS_DAYS", 90)  # finished bulk jobs
# The intake's Idempotency-Key and RADIUS packet keys: a retry within this many hours is
# answered again instead of counted again; older keys are forgotten and deleted.
RETENTION_IDEMPOTENCY_HOURS = env_int("RETENTION_IDEMPOTENCY_HOURS", 24)
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000)
RETENTION_BATCHES = env_int("RETENTION_BATCHES", 20)
for _name in (
    "RETENTION_CONNECTIONS_DAYS",
    "RETENTION_NOTICES_DAYS",
    "RETENTION_AUDIT_DAYS",
    "RETENTION_BULK_JOBS_DAYS",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 (keep forever) or a number of days")
for _name in ("RETENTION_IDEMPOTENCY_HOURS", "RETENTION_BATCH_SIZE", "RETENTION_BATCHES"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")

# --- Domain settings --------------------------------------------------------
LICENSE_START_DEVICES = env_int("LICENSE_START_DEVICES", 5)
# Device ids are stored only as HMAC-SHA256 with this key (derived from SECRET_KEY unless
# set). Changing it makes known devices of pending licenses count again as new ones.
DEVICE_HASH_KEY = (
    env_str("DEVICE_HASH_KEY", "")
    or hmac.new(SECRET_KEY.encode(), b"wlm.connections.device-hash", hashlib.sha256).hexdigest()
).encode()

# --- Signed licenses (wlm.licenses.signing; docs/licenses-offline.md) -------------
# The Ed25519 private keys that sign licenses: files here (one made on first use), never
# in the database. LICENSE_SIGNING_KEY (a PEM private key) signs instead when set.
SIGNING_KEYS_DIR = Path(env_str("SIGNING_KEYS_DIR", str(DATA_DIR / "signing")))
# The platform's address as people reach it: the issuer of the tokens, and their verify page.
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
LICENSE_SIGNING_KEY = env_str("LICENSE_SIGNING_KEY", "")

# --- RADIUS (wlm.dataplane.radius; docs/radius.md) ------------------------------
# The longest session an Access-Accept grants, in seconds; never past the license's cut-off.
RADIUS_SESSION_TIMEOUT = env_int("RADIUS_SESSION_TIMEOUT", 24 * 60 * 60)

# --- The database away (wlm.lib.database; docs/dataplane.md) ---------------------------
# Seconds a server process answers the entitlement check and RADIUS from what it knew
# when it last reached the database, while the database is away; then 503.
DATAPLANE_OUTAGE_GRACE = env_int("DATAPLANE_OUTAGE_GRACE", 15 * 60)

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # named, hashed tokens with a scope; the client reads its user's language
        # (wlm/tenancy/authentication.py, docs/api.md "Authentication")
        "wlm.tenancy.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["wlm.tenancy.permissions.TenantPermission"],
    "DEFAULT_PAGINATION_CLASS": "wlm.lib.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "wlm.lib.filters.StrictOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "wlm.lib.csv.CSVRenderer",
    ],
    # orjson: strict, and nesting too deep for a recursive parser is a 400, not a 500
    "DEFAULT_PARSER_CLASSES": ["wlm.lib.parsers.FastJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "wlm.lib.schema.Schema",
    "EXCEPTION_HANDLER": "wlm.lib.problems.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("THROTTLE_AUTH", "20/min"),
        # Send Key attempts (DESIGN §3): per user, and per client address
        "activate_user": env_str("THROTTLE_ACTIVATE_USER", "10/min"),
        "activate_address": env_str("THROTTLE_ACTIVATE_ADDRESS", "30/min"),
        # Failed passwords at the login pages and the token endpoint, per username and per
        # client address (wlm/tenancy/throttles.py)
        "login_user": env_str("THROTTLE_LOGIN_USER", "10/hour"),
        "login_address": env_str("THROTTLE_LOGIN_ADDRESS", "30/hour"),
        # Password reset e-mails per e-mail address, and reset requests per client address
        "password_reset": env_str("THROTTLE_PASSWORD_RESET", "3/hour"),
        "password_reset_address": env_str("THROTTLE_PASSWORD_RESET_ADDRESS", "20/hour"),
        # "Send test" of the settings page, per tenant (wlm/notifications/probes.py)
        "settings_test": env_str("THROTTLE_SETTINGS_TEST", "5/min"),
    },
    # Proxies in front of the app whose X-Forwarded-For is trusted; 0: the peer address
    # is the client (a client cannot choose its throttling address by sending the header).
    "NUM_PROXIES": env_int("TRUSTED_PROXIES", 0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATE_FORMAT": "%Y-%m-%d",
    "COERCE_DECIMAL_TO_STRING": False,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WiFi License Manager API",
    # the description, the sections and the summaries: wlm/lib/schema.py, in the reader's
    # language
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # one name per choice set, whatever the field is called (the audit log's ``tenant.type``)
    "ENUM_NAME_OVERRIDES": {
        "TenantTypeEnum": "wlm.tenancy.models.TenantType",
        "AuditKindEnum": "wlm.audit.models.Kind",
        "InvitableRoleEnum": "wlm.tenancy.api.INVITABLE_ROLE_CHOICES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "wlm.lib.schema.add_problem_responses",
    ],
    "SECURITY": [{"tokenAuth": []}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "tokenAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
            }
        }
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "filters": {"without_traceback": {"()": "wlm.lib.database.WithoutTraceback"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # a 503 of the database away: one line per request, not a traceback each
    "loggers": {"django.request": {"level": "ERROR", "filters": ["without_traceback"]}},
}
