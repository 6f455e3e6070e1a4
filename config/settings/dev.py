"""Local work, the demo and the tests: insecure fixed secrets are allowed, DEBUG only when asked for."""
import os

from .base import *  # noqa: F401,F403
from .base import ARENA, env_bool

# Even here, DEBUG pages (which list URLs and settings) appear only when asked for: demo.sh asks.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "dev-only-insecure-key-change-me-in-production-0123456789abcdef"
ARENA["EXPORT_SALT"] = ARENA["EXPORT_SALT"] or "dev-only-export-salt"
