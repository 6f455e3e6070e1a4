"""Production settings pass Django's deployment checks; the embedded (dev) defaults need no services."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROD = "config.settings.prod"


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    unset = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE",
             "DJANGO_DEBUG"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_settings_pass_check_deploy(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE=PROD, DJANGO_SECRET_KEY="x" * 64 + "-production-secret-key-for-the-check",
        DJANGO_ALLOWED_HOSTS="arena.example.eus", ARENA_EXPORT_SALT="s" * 32, ARENA_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_manage("check", DJANGO_SETTINGS_MODULE=PROD, ARENA_EXPORT_SALT="s" * 32, ARENA_DATA_DIR=str(tmp_path))
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_an_export_salt(tmp_path):
    result = run_manage("check", DJANGO_SETTINGS_MODULE=PROD, DJANGO_SECRET_KEY="k" * 64, ARENA_DATA_DIR=str(tmp_path))
    assert result.returncode != 0 and "ARENA_EXPORT_SALT" in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "from django.conf import settings as s; print('DEBUG', s.DEBUG)"
    assert run_manage("shell", "-c", code, ARENA_DATA_DIR=str(tmp_path)).stdout.split()[-2:] == ["DEBUG", "False"]
    asked = run_manage("shell", "-c", code, ARENA_DATA_DIR=str(tmp_path), DJANGO_DEBUG="1")
    assert asked.stdout.split()[-2:] == ["DEBUG", "True"]


def test_embedded_defaults_use_sqlite_and_in_memory_layers(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = run_manage("shell", "-c", code, ARENA_DATA_DIR=str(tmp_path))
    assert result.stdout.split()[-3:] == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer", "True"]


def test_postgresql_connections_come_from_a_pool_per_process(tmp_path):
    """Without a pool every request and database_sync_to_async call connected anew (~10 per voted battle)."""
    code = "from django.conf import settings as s; print('POOL', s.DATABASES['default']['OPTIONS'].get('pool'))"
    url = "postgres://postgres@127.0.0.1:5432/arena"
    pooled = run_manage("shell", "-c", code, DATABASE_URL=url, ARENA_DATA_DIR=str(tmp_path)).stdout
    assert "'max_size': 20" in pooled.split("POOL", 1)[1]
    unpooled = run_manage("shell", "-c", code, DATABASE_URL=url, ARENA_DB_POOL="0", ARENA_DATA_DIR=str(tmp_path))
    assert unpooled.stdout.split()[-2:] == ["POOL", "None"]


def test_production_mails_by_smtp_unless_told_otherwise(tmp_path):
    """The demo's console backend would write every password-reset link into a public site's log."""
    code = "from django.conf import settings as s; print('BACKEND', s.EMAIL_BACKEND)"
    prod = {"DJANGO_SETTINGS_MODULE": PROD, "DJANGO_SECRET_KEY": "k" * 64, "ARENA_EXPORT_SALT": "s" * 32,
            "ARENA_DATA_DIR": str(tmp_path)}
    assert run_manage("shell", "-c", code, **prod).stdout.split()[-1] == "django.core.mail.backends.smtp.EmailBackend"
    assert run_manage("shell", "-c", code, ARENA_DATA_DIR=str(tmp_path)).stdout.split()[-1].endswith("console.EmailBackend")
    chosen = run_manage("shell", "-c", code, DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", **prod)
    assert chosen.stdout.split()[-1] == "django.core.mail.backends.dummy.EmailBackend"
