"""Settings for the Basque LLM arena.

Everything comes from the environment with embedded defaults, so a bare checkout runs on
SQLite, an in-memory channel layer and in-process (eager) Celery tasks. Setting
``DATABASE_URL`` / ``REDIS_URL`` switches to PostgreSQL, the Redis channel layer and Celery
on Redis (or ``CELERY_BROKER_URL``, e.g. RabbitMQ).
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_PRODUCTION=1")
    SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# Where the project keeps data it makes (converted checkpoints, server logs, exports).
DATA_DIR = Path(os.environ.get("ARENA_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "models_serving",
    "arena",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "arena.middleware.BasqueFirstMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arena.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "arena.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + a busy timeout let the ASGI server's threads write without "database is locked".
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
    # Tests use a file, like the embedded default, so threads see real SQLite locking (not shared-cache).
    # One file per test process: concurrent test runs must not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    # A test database per test process, so concurrent test runs on one server don't collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default'].get('NAME') or 'arena'}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNELS_PREFIX", "asgi")},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: eager (in-process) unless a broker is configured.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not (REDIS_URL or os.environ.get("CELERY_BROKER_URL")))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Unhealthy models leave new battles at once and come back when this check passes again.
    "models-serving-health": {
        "task": "models_serving.check_health",
        "schedule": float(os.environ.get("ARENA_HEALTH_INTERVAL", "30")),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "arena:battle"
LOGOUT_REDIRECT_URL = "arena:home"

# Basque first; Spanish and English selectable.
LANGUAGE_CODE = "eu"
LANGUAGES = [("eu", _("Basque")), ("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "arena_language"
TIME_ZONE = "Europe/Madrid"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
SERVE_STATIC = env_bool("ARENA_SERVE_STATIC", not PRODUCTION)
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "static_collected"))

# Arena behaviour (all overridable from the environment).
ARENA = {
    "PROMPT_MAX_CHARS": env_int("ARENA_PROMPT_MAX_CHARS", 4000),
    "FRAME_MAX_BYTES": env_int("ARENA_FRAME_MAX_BYTES", 16384),
    "PROMPTS_PER_MINUTE": env_int("ARENA_PROMPTS_PER_MINUTE", 10),
    "MAX_TURNS": env_int("ARENA_MAX_TURNS", 10),
    "DEFAULT_MAX_TOKENS": env_int("ARENA_DEFAULT_MAX_TOKENS", 512),
    # Seconds to wait for an endpoint's first token, and between later tokens.
    "FIRST_TOKEN_TIMEOUT": float(os.environ.get("ARENA_FIRST_TOKEN_TIMEOUT", "60")),
    "TOKEN_TIMEOUT": float(os.environ.get("ARENA_TOKEN_TIMEOUT", "30")),
    # Retries of a request that failed before its first token.
    "CONNECT_RETRIES": env_int("ARENA_CONNECT_RETRIES", 1),
    # Secret salt for participant hashes in exports (same salt -> same hash across exports).
    "EXPORT_SALT": os.environ.get("ARENA_EXPORT_SALT", "" if PRODUCTION else "dev-only-export-salt"),
    "DATASET_LICENSE": os.environ.get("ARENA_DATASET_LICENSE", "cc-by-nc-sa-4.0"),
    # Leaderboard: recompute at most this often after new votes; bootstrap rounds; seed; BT pseudo-count.
    "LEADERBOARD_REFRESH_SECONDS": env_int("ARENA_LEADERBOARD_REFRESH_SECONDS", 30),
    "LEADERBOARD_BOOTSTRAP_ROUNDS": env_int("ARENA_LEADERBOARD_BOOTSTRAP_ROUNDS", 1000),
    "LEADERBOARD_SEED": env_int("ARENA_LEADERBOARD_SEED", 20260),
    "LEADERBOARD_PSEUDO_COUNT": float(os.environ.get("ARENA_LEADERBOARD_PSEUDO_COUNT", "0.01")),
    # A boosted new model is drawn more often until it has this many votes.
    "BOOST_UNTIL_VOTES": env_int("ARENA_BOOST_UNTIL_VOTES", 500),
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}
