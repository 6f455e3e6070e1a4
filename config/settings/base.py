"""Settings shared by every deployment of the Basque LLM arena; ``dev`` and ``prod`` add their own.

Every setting the code reads is declared here once, with its default and meaning. Values come from
the environment with embedded defaults, so a bare checkout runs on SQLite, an in-memory channel
layer and in-process (eager) Celery tasks. Setting ``DATABASE_URL`` / ``REDIS_URL`` switches to
PostgreSQL, the Redis channel layer and Celery on Redis (or ``CELERY_BROKER_URL``, e.g. RabbitMQ).
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

from config import datapack

BASE_DIR = Path(__file__).resolve().parents[2]


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


# DEBUG and SECRET_KEY are set by ``dev`` (DEBUG only when asked for) and ``prod`` (secret required).
DEBUG = False

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# Where the project keeps data it makes (converted checkpoints, server logs, exports).
DATA_DIR = Path(os.environ.get("ARENA_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
# The Basque data pack the project reads (benchmarks, corpus): the copy in the repo unless overridden.
DATA_PACK_DIR = datapack.data_pack_dir()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "models_serving",
    "arena",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "arena.middleware.BasqueFirstMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: turns a lockout into its page
]

ROOT_URLCONF = "config.urls"
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
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
    # A connection pool per process (psycopg_pool): without it every request and every
    # database_sync_to_async call connects anew, ~10 connections per voted battle (docs/load.md).
    if env_bool("ARENA_DB_POOL", True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1, "max_size": env_int("ARENA_DB_POOL_MAX", 20), "timeout": 10,
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

def redis_channel_layer(url: str) -> dict:
    """The channel layer on Redis at ``url``.

    channels_redis waits up to 5 s on BZPOPMIN for each receive; redis-py >= 8 times a read out after
    5 s by default, which closed every idle socket after 5 s: reads may take longer than that wait."""
    return {
        "BACKEND": "config.channel_layer.ResilientRedisChannelLayer",  # sockets outlive a Redis restart
        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 2}],
                   "prefix": os.environ.get("CHANNELS_PREFIX", "asgi")},
    }


REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    # Degrades (misses, dropped writes) while Redis is down; short timeouts so an outage never hangs a page.
    CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: eager (in-process) unless a broker is configured.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not (REDIS_URL or os.environ.get("CELERY_BROKER_URL")))
CELERY_TASK_EAGER_PROPAGATES = True
# Nothing reads a task's return value: storing it cost every enqueue a Redis subscription (profiled in
# the vote view: a third of its time, bench/vote_ingest.py).
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Votes whose quality check was lost (queued while the broker was down) are checked here.
    "arena-pending-vote-checks": {"task": "arena.check_pending_votes", "schedule": 60.0},
    # Research exports whose worker died stop showing "being prepared".
    "arena-stale-exports": {"task": "arena.fail_stale_exports", "schedule": 300.0},
    # Near-duplicate prompts (copy-pasted test questions, spam) count at most LEADERBOARD_PROMPT_CAP votes.
    "arena-duplicate-prompts": {"task": "arena.reweight_duplicates", "schedule": 3600.0},
    # Benchmark runs whose worker was killed (SIGKILL, out of memory, hard time limit) are failed.
    "evaluation-stale-runs": {"task": "evaluation.fail_stale_runs", "schedule": 300.0},
    # Unhealthy models leave new battles at once and come back when this check passes again.
    "models-serving-health": {
        "task": "models_serving.check_health",
        "schedule": float(os.environ.get("ARENA_HEALTH_INTERVAL", "30")),  # seconds
    },
}
# The one health-check interval: beat's schedule above, and the demo's and ``serve_models --watch``'s loops.
HEALTH_CHECK_INTERVAL = CELERY_BEAT_SCHEDULE["models-serving-health"]["schedule"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every log-in (the site's and the admin's) before the password does. It needs the
# request: code that logs users in calls authenticate(request, ...) or login(..., backend=...).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

LOGIN_URL = "login"
# Password-reset mails: the console backend (mails printed in the server's log) unless a deployment sets
# DJANGO_EMAIL_BACKEND (e.g. django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST/EMAIL_PORT/...).
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")  # SMTP server, for the smtp backend
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)  # its port
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")  # its user name, if it asks for one
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")  # and password
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)  # STARTTLS to the SMTP server
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "arena@localhost")  # the sender of its mails
LOGIN_REDIRECT_URL = "arena:battle"
LOGOUT_REDIRECT_URL = "arena:home"

# Log-in brute force (django-axes, database records): after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused (even the right password) on /login/ and /admin/login/.
AXES_FAILURE_LIMIT = env_int("ARENA_LOGIN_FAILURE_LIMIT", 5)  # failed log-ins that lock a username + address
# How long a lockout lasts; each further attempt during it starts it again.
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ARENA_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one count per username + address pair
AXES_RESET_ON_SUCCESS = True  # a successful log-in clears that pair's earlier failures
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"  # the same log-in page, translated message, HTTP 429
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"  # the client's address (TRUSTED_PROXY_COUNT below)
AXES_DISABLE_ACCESS_LOG = True  # successful log-ins are not recorded; failures are, until their cool-off ends
# Reverse proxies in front of the site that append the client's address to X-Forwarded-For; the client
# is the address the outermost one saw. 0: none, the TCP peer (REMOTE_ADDR) is the client. Set it only
# when the site cannot be reached except through those proxies (else X-Forwarded-For can be forged).
TRUSTED_PROXY_COUNT = env_int("ARENA_TRUSTED_PROXY_COUNT", 0)

# Content-Security-Policy (django-csp): scripts only from the site's own files (no inline scripts, no
# inline event handlers), connections only to the site (config.security adds its ws:/wss: origin),
# no plugins, never framed. Inline style attributes are allowed (leaderboard cells, admin badges).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "connect-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Basque first; Spanish and English selectable.
LANGUAGE_CODE = "eu"
LANGUAGES = [("eu", _("Basque")), ("es", _("Spanish")), ("en", _("English"))]
# locale/: the project's strings; locale_django/: Basque for what Django's own catalogues leave untranslated.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_django"]
LANGUAGE_COOKIE_NAME = "arena_language"
TIME_ZONE = "Europe/Madrid"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The ASGI app serves /static/ itself (single-process runs); behind a proxy, the proxy does.
SERVE_STATIC = env_bool("ARENA_SERVE_STATIC", True)
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "static_collected"))

# Arena behaviour (all overridable from the environment).
ARENA = {
    # Where volunteers write to the project (the contact and privacy pages); empty: no address is shown.
    "CONTACT_EMAIL": os.environ.get("ARENA_CONTACT_EMAIL", ""),
    "PROMPT_MAX_CHARS": env_int("ARENA_PROMPT_MAX_CHARS", 4000),  # longest prompt accepted
    "FRAME_MAX_BYTES": env_int("ARENA_FRAME_MAX_BYTES", 16384),  # largest WebSocket frame accepted
    "FRAME_MAX_DEPTH": env_int("ARENA_FRAME_MAX_DEPTH", 4),  # deepest JSON nesting accepted in a frame
    # Longest answer stored and relayed per side and turn (an endpoint may ignore max_tokens).
    "ANSWER_MAX_CHARS": env_int("ARENA_ANSWER_MAX_CHARS", 32000),
    # Seconds a worker thread may spend rendering one answer's Markdown before plain text is shown.
    "RENDER_TIMEOUT": float(os.environ.get("ARENA_RENDER_TIMEOUT", "2")),
    "PROMPTS_PER_MINUTE": env_int("ARENA_PROMPTS_PER_MINUTE", 10),  # per participant, all sockets
    "MAX_TURNS": env_int("ARENA_MAX_TURNS", 10),  # prompts per battle
    # A turn still answering after this many seconds was cut by a dead server process: a resume settles it.
    "TURN_STALE_SECONDS": env_int("ARENA_TURN_STALE_SECONDS", 600),
    # Seconds to wait for an endpoint's first token, and between later tokens.
    "FIRST_TOKEN_TIMEOUT": float(os.environ.get("ARENA_FIRST_TOKEN_TIMEOUT", "60")),
    "TOKEN_TIMEOUT": float(os.environ.get("ARENA_TOKEN_TIMEOUT", "30")),
    # A side's text deltas reach the browser at most once per this many ms (the first at once): fewer,
    # larger frames for the same text (bench/relay_scale.py measures 0 vs 40). 0: one frame per send.
    "FRAME_INTERVAL_MS": env_int("ARENA_FRAME_INTERVAL_MS", 40),
    # Start a turn's upstream requests while its prompt's transaction runs (arena/upstream.py); off only
    # to measure what it saves (bench/arena_latency.py ttft --no-speculation).
    "SPECULATIVE_START": os.environ.get("ARENA_SPECULATIVE_START", "1") != "0",
    # Votes sent over the battle socket are stored together (arena/vote_batching.py): a batch collects for
    # at most this many ms (or until it is full, or while the previous batch is being stored), then goes
    # to the database in one transaction. 0: each vote goes at once, alone unless others arrived with it.
    "VOTE_BATCH_MS": float(os.environ.get("ARENA_VOTE_BATCH_MS", "5")),
    # Retries of a request that failed before its first token.
    "CONNECT_RETRIES": env_int("ARENA_CONNECT_RETRIES", 1),
    # Secret salt for participant hashes in exports (same salt -> same hash across exports).
    "EXPORT_SALT": os.environ.get("ARENA_EXPORT_SALT", ""),  # dev supplies a fixed one; prod requires it
    # Researchers page: an export matching up to this many votes streams in the request; a bigger one
    # is built by a Celery task into DATA_DIR/exports and downloaded from the page once ready.
    "EXPORT_INLINE_MAX_VOTES": env_int("ARENA_EXPORT_INLINE_MAX_VOTES", 20000),
    "DATASET_LICENSE": os.environ.get("ARENA_DATASET_LICENSE", "cc-by-nc-sa-4.0"),  # written in export manifests
    # The code version export manifests record; empty: ``git describe`` of the checkout.
    "CODE_VERSION": os.environ.get("ARENA_CODE_VERSION", ""),
    # Leaderboard: recompute at most this often after new votes; bootstrap rounds; seed; BT pseudo-count.
    "LEADERBOARD_REFRESH_SECONDS": env_int("ARENA_LEADERBOARD_REFRESH_SECONDS", 30),
    "LEADERBOARD_BOOTSTRAP_ROUNDS": env_int("ARENA_LEADERBOARD_BOOTSTRAP_ROUNDS", 1000),
    "LEADERBOARD_SEED": env_int("ARENA_LEADERBOARD_SEED", 20260),
    "LEADERBOARD_PSEUDO_COUNT": float(os.environ.get("ARENA_LEADERBOARD_PSEUDO_COUNT", "0.01")),
    # Sd (rating points) of the Gaussian prior on each model's score: keeps few-vote intervals honest
    # (wide); 0 = plain maximum likelihood. See docs/leaderboard.md "Intervals at every sample size".
    "LEADERBOARD_PRIOR_SD": float(os.environ.get("ARENA_LEADERBOARD_PRIOR_SD", "300")),
    # A model with fewer votes (in a dimension) is "preliminary": shown apart, unranked, posterior interval.
    "LEADERBOARD_MIN_VOTES": env_int("ARENA_LEADERBOARD_MIN_VOTES", 100),
    # Style-controlled boards: bootstrap rounds (the sandwich interval needs none).
    "LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS": env_int("ARENA_LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS", 100),
    # Prompt topics: the labeller class (arena/categories.py; the default applies the admins' keyword rules).
    "PROMPT_LABELLER": os.environ.get("ARENA_PROMPT_LABELLER", "arena.categories.KeywordLabeller"),
    # Public name of the served model that arena.categories.LLMJudgeLabeller asks ("" when that labeller is unused).
    "PROMPT_JUDGE_MODEL": os.environ.get("ARENA_PROMPT_JUDGE_MODEL", ""),
    # Near-duplicate prompts (arena/duplicates.py): a group of them counts as at most this many votes in the fit.
    "LEADERBOARD_PROMPT_CAP": env_int("ARENA_LEADERBOARD_PROMPT_CAP", 10),
    # A boosted new model is drawn more often until it has this many votes.
    "BOOST_UNTIL_VOTES": env_int("ARENA_BOOST_UNTIL_VOTES", 500),
    # A running benchmark run beats this often (seconds); one silent for EVALUATION_STALE_SECONDS is failed.
    "EVALUATION_HEARTBEAT_SECONDS": env_int("ARENA_EVALUATION_HEARTBEAT_SECONDS", 60),
    "EVALUATION_STALE_SECONDS": env_int("ARENA_EVALUATION_STALE_SECONDS", 900),
}

# Model serving: flags for the vLLM servers that ``serve_models`` starts (a base model's own
# fields win over these), and where their records and logs go.
MODELS_SERVING = {
    "DIR": Path(os.environ.get("ARENA_SERVING_DIR", DATA_DIR / "serving")),  # server records and logs
    "HOST": os.environ.get("ARENA_VLLM_HOST", "127.0.0.1"),  # interface vLLM servers listen on
    "DTYPE": os.environ.get("ARENA_VLLM_DTYPE", "auto"),  # --dtype
    "MAX_MODEL_LEN": env_int("ARENA_VLLM_MAX_MODEL_LEN", 2048),  # --max-model-len
    "GPU_MEMORY_UTILIZATION": float(os.environ.get("ARENA_VLLM_GPU_MEMORY_UTILIZATION", "0.85")),
    "TENSOR_PARALLEL_SIZE": env_int("ARENA_VLLM_TENSOR_PARALLEL_SIZE", 1),  # GPUs per server
    "EXTRA_ARGS": os.environ.get("ARENA_VLLM_EXTRA_ARGS", ""),  # more vLLM flags, shell-quoted
    # Environment variables an endpoint's API key may be read from (the admin names one per model):
    # those whose names start with this prefix ("" = none by prefix) ...
    "API_KEY_ENV_PREFIX": os.environ.get("ARENA_MODEL_KEY_PREFIX", "ARENA_MODEL_KEY_"),
    # ... and these exact names, comma-separated. The site's own secrets (DJANGO_SECRET_KEY, ...) never.
    "API_KEY_ENVS": env_list("ARENA_MODEL_KEY_ENVS", ""),
    # Free LoRA slots beyond the active adapters, so an adapter activated later loads without a restart.
    "LORA_HEADROOM": env_int("ARENA_VLLM_LORA_HEADROOM", 2),
    "CPU_KVCACHE_GIB": env_int("ARENA_VLLM_CPU_KVCACHE_GIB", 1),  # VLLM_CPU_KVCACHE_SPACE on CPU builds
    # Load/unload adapters on a running server (vLLM's runtime LoRA API) instead of restarting it.
    "RUNTIME_LORA_UPDATING": env_bool("ARENA_VLLM_RUNTIME_LORA_UPDATING", True),
    "START_TIMEOUT": float(os.environ.get("ARENA_VLLM_START_TIMEOUT", "600")),  # seconds until /health
    # ``serve_models --watch`` restarts a dead server after this many seconds, doubling after each
    # failure in a row, up to RESTART_BACKOFF_MAX.
    "RESTART_BACKOFF": float(os.environ.get("ARENA_VLLM_RESTART_BACKOFF", "10")),
    "RESTART_BACKOFF_MAX": float(os.environ.get("ARENA_VLLM_RESTART_BACKOFF_MAX", "600")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}
