"""Zhima Console settings: one file, driven by environment variables (README lists them all).

The defaults run a fresh checkout with no configuration: SQLite in the project directory,
django-q2's ORM broker, and the embedded upstream simulator on 127.0.0.1:8001.
"""

import math
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from .clientip import parse_trusted
from .env import (
    SettingError,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
    private_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise SettingError(
            "DJANGO_SECRET_KEY must be set unless DJANGO_DEBUG is true (for development, "
            "`bash .ci/start` writes both into .env.local, which manage.py reads)"
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "axes",
    "accounts",
    "leases",
    "leases.webhooks",
]

MIDDLEWARE = [
    "accounts.logging.RequestIdMiddleware",
    "zhima_site.middleware.ProbeMiddleware",  # before anything reads the Host header
    "django.middleware.security.SecurityMiddleware",
    "zhima_site.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "zhima_site.urls"
WSGI_APPLICATION = "zhima_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context.nav",
            ],
            # ``|shown``: text from outside (SMS, upstream messages) with its bidirectional
            # controls made visible and isolated, in every template without a {% load %}.
            "builtins": [
                "accounts.templatetags.shown",
                "accounts.templatetags.labels",
                "accounts.templatetags.money",
            ],
        },
    }
]

# -- Database ----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Connections are kept (the web's request threads are pooled, zhima_site.asgi) and checked
# before a request reuses one: a database restarted meanwhile costs no request an error.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Kept open as on PostgreSQL: opening one costs more CPU than most requests' queries.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock
        # when a transaction starts, so two writers queue instead of failing mid-way.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}
    # The database holds the encrypted keys and every number leased: created 0600 (SQLite
    # gives its -wal and -shm files the database file's mode).
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_file(Path(DATABASES["default"]["NAME"]))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Cache and broker --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "zhima"),
        }
    }
else:
    # A cache on disk is shared by the web server and every worker process on this machine, so
    # they share one upstream session per account instead of each verifying on its own, and
    # count the API's limits together (zhima_site.cache).
    CACHES = {
        "default": {
            "BACKEND": "zhima_site.cache.PrivateDiskCache",
            "LOCATION": env_str("CACHE_DIR", str(BASE_DIR / "var" / "cache")),
            "DATABASE_TIMEOUT": 1.0,
        }
    }

Q_CLUSTER: dict[str, Any] = {
    "name": env_str("Q_CLUSTER_NAME", "zhima"),
    "workers": env_int("Q_WORKERS", 2),
    # "timeout" and "retry" follow from the poller's run length: see below.
    "catch_up": False,
    "max_attempts": 1,
    "save_limit": 500,
    "ack_failures": True,
    "poll": 0.5,
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# -- Authentication ----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leases-overview"
LOGOUT_REDIRECT_URL = "login"
# The lockout counts failures per (username, address) pair, so one person's typos lock out
# neither the team behind the same proxy nor the named user elsewhere; and per address, with a
# much higher limit, against one address trying a password on many usernames (accounts.lockout).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_ADDRESS_FAILURE_LIMIT = env_int("AXES_ADDRESS_FAILURE_LIMIT", 50)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429  # axes' default, stated: the locked-out page answers with it
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "accounts.lockout.PairAndAddressHandler"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "zhima_site.clientip.client_ip"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
ADMIN_PATH = env_str("DJANGO_ADMIN_PATH", "admin/").strip("/") + "/"

# -- Security ----------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "media-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_HTTPS = env_bool("DJANGO_SECURE", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", SECURE_HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Whom X-Forwarded-For is believed from (zhima_site.clientip): a count of proxies in front of
# the console, or their addresses/networks; empty: nobody, the client is REMOTE_ADDR.
try:
    TRUSTED_PROXIES = parse_trusted(env_str("TRUSTED_PROXIES"))
except ValueError as exc:
    raise SettingError(f"TRUSTED_PROXIES: {exc}") from None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# -- Languages ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

# -- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# -- Mail --------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "zhima-console@localhost")
MAILERS = {
    "default": {
        "BACKEND": env_str(
            "EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": {
            k: v
            for k, v in {
                "host": env_str("EMAIL_HOST"),
                "port": env_int("EMAIL_PORT", 0) or None,
                "username": env_str("EMAIL_USER"),
                "password": env_str("EMAIL_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", False) or None,
            }.items()
            if v
        },
    }
}
# Alerts go to each account's managers, and to these addresses for every account.
ALERT_EMAILS = env_list("ALERT_EMAILS")
ALERT_UPSTREAM_MINUTES = env_float("ALERT_UPSTREAM_MINUTES", 5.0)
ALERT_POLL_LAG_SECONDS = env_float("ALERT_POLL_LAG_SECONDS", 30.0)

# -- The upstream ------------------------------------------------------------------------------
ZHIMA_BASE_URL = env_str("ZHIMA_BASE_URL", "http://127.0.0.1:8001/zsmcode/")
# Where the simulator serves the sandbox account (pinned on the account, so pointing
# ZHIMA_BASE_URL at the real upstream never sends the sandbox's demo key there).
ZHIMA_SANDBOX_URL = env_str("ZHIMA_SANDBOX_URL", "http://127.0.0.1:8001/zsmcode/")
ZHIMA_CONNECT_TIMEOUT = env_float("ZHIMA_CONNECT_TIMEOUT", 3.05)
ZHIMA_READ_TIMEOUT = env_float("ZHIMA_READ_TIMEOUT", 10.0)
# The lease call waits longer: an answer given up on may have leased numbers no one can name.
# gunicorn's worker timeout follows from these three (zhima_site/gunicorn_conf.py: 90 s with the
# defaults, longer than the longest lease request); a server run without that file needs as much.
ZHIMA_LEASE_READ_TIMEOUT = env_float("ZHIMA_LEASE_READ_TIMEOUT", 25.0)
ZHIMA_HTTP_PROXY = env_str("ZHIMA_HTTP_PROXY")  # e.g. http://proxy:3128; none by default
# Not env_list: ZHIMA_FIELD_KEYS_FILE is where a generated key is kept (accounts.crypto), not
# the _FILE spelling of ZHIMA_FIELD_KEYS; a file that does not exist yet is created there.
ZHIMA_FIELD_KEYS = [k.strip() for k in os.environ.get("ZHIMA_FIELD_KEYS", "").split(",")]
ZHIMA_FIELD_KEYS = [k for k in ZHIMA_FIELD_KEYS if k]
ZHIMA_FIELD_KEYS_FILE = env_str(
    "ZHIMA_FIELD_KEYS_FILE", str(Path.home() / ".config" / "zhima-console" / "field-keys")
)
# Loopback, private or reserved networks webhooks may reach besides public addresses (e.g.
# 10.0.0.0/8 for CI runners on the LAN, 127.0.0.1 for a receiver on this host); empty: none.
ZHIMA_WEBHOOK_PRIVATE_NETWORKS = env_networks("ZHIMA_WEBHOOK_PRIVATE_NETWORKS")
# Hosts (or host:port) a developer account's base URL may name; empty: any http(s) host.
ZHIMA_UPSTREAM_HOSTS = env_list("ZHIMA_UPSTREAM_HOSTS")
ZHIMA_POLL_INTERVAL = env_float("ZHIMA_POLL_INTERVAL", 5.0)
ZHIMA_POLL_CONCURRENCY = env_int("ZHIMA_POLL_CONCURRENCY", 32)
ZHIMA_POLLER_RUN_SECONDS = env_float("ZHIMA_POLLER_RUN_SECONDS", 55.0)
ZHIMA_POLLER_SLOTS = env_int("ZHIMA_POLLER_SLOTS", 1)
ZHIMA_POLLER_STALE_SECONDS = env_float("ZHIMA_POLLER_STALE_SECONDS", 6.0)
# The poller's host (leases/poller.py): a poller task waits out a dead loop's slot, runs, then
# drains its last calls (a verification and the call); 10 s for its database writes. retry
# must exceed timeout or the broker hands a running loop to a second worker. leases.checks
# fails `manage.py check` when these do not hold.
Q_CLUSTER["timeout"] = math.ceil(
    ZHIMA_POLLER_STALE_SECONDS
    + 1
    + ZHIMA_POLLER_RUN_SECONDS
    + 2 * (ZHIMA_CONNECT_TIMEOUT + ZHIMA_READ_TIMEOUT)
    + 10
)
Q_CLUSTER["retry"] = Q_CLUSTER["timeout"] + 30
ZHIMA_RELEASE_MARGIN_MINUTES = env_float("ZHIMA_RELEASE_MARGIN_MINUTES", 5.0)
ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES = env_float("ZHIMA_UPSTREAM_FORCE_RELEASE_MINUTES", 30.0)

# -- Operations ----------------------------------------------------------------------------------
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Addresses (or networks) that may scrape without the token, compared with the client's
# address (TRUSTED_PROXIES). Empty by default, and an empty variable means empty: behind a
# local proxy every request comes from loopback.
METRICS_ALLOW_IPS = env_networks("METRICS_ALLOW_IPS")

# -- The automation API (/api/v1/) -------------------------------------------------------------
ZHIMA_API_LEASES_PER_MINUTE = env_int("ZHIMA_API_LEASES_PER_MINUTE", 60)  # per token; 0: none
# How often a web process's watcher looks for new messages for its long-polls (seconds);
# with REDIS_URL it is told at once and looks only every second as a backstop.
ZHIMA_API_WATCH_INTERVAL = env_float("ZHIMA_API_WATCH_INTERVAL", 0.02)
ZHIMA_API_DB_THREADS = env_int("ZHIMA_API_DB_THREADS", 4)  # the long-polls' database pool
# Synchronous requests running at once in a web process; the others wait their turn, in the
# order they came (zhima_site.admission).
ZHIMA_WEB_RUNNING_REQUESTS = env_int("ZHIMA_WEB_RUNNING_REQUESTS", 1)
# A waiting /code request checks its token and membership again at least this often (seconds),
# and always before it answers.
ZHIMA_API_WAIT_RECHECK_SECONDS = env_float("ZHIMA_API_WAIT_RECHECK_SECONDS", 3.0)
# Concurrent /code waits one token may hold (counted in the shared cache); 0: no cap.
ZHIMA_API_MAX_WAITS_PER_TOKEN = env_int("ZHIMA_API_MAX_WAITS_PER_TOKEN", 10)

# -- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise SettingError("LOG_FORMAT must be text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "accounts.logging.ContextFilter"},
        "redact": {"()": "accounts.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [req %(request_id)s lease %(lease_id)s"
            " ip %(client_ip)s] %(message)s"
        },
        "json": {"()": "accounts.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # urllib3 logs request lines with their query string, which holds the pkey on the
        # verification call; keep it above DEBUG (the redaction filter is a second line).
        "urllib3": {"level": "WARNING"},
        # Its start-up banner would open the output of every manage.py command.
        "axes.apps": {"level": "WARNING"},
    },
}
