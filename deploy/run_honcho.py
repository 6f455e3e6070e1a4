"""``honcho`` (the Procfile runner), with a longer wait before it SIGKILLs what is left at shutdown.

honcho forwards SIGTERM/SIGINT to every process group it started (``os.killpg``), waits for them,
and SIGKILLs the groups still alive ``honcho.manager.KILL_WAIT`` seconds (5) after the first one
exited. That constant has no command-line option, and 5 s is too short for ``serve_models --watch``,
which stops each vLLM server it runs (up to 20 s each, SIGTERM then SIGKILL) before it exits: a
SIGKILL in the middle would leave vLLM servers running with nobody to stop them. This sets it from
``ARENA_STOP_TIMEOUT`` (seconds, default 60) and runs honcho's own command line unchanged:

    python deploy/run_honcho.py start -f deploy/Procfile [PROCESS ...]
"""
from __future__ import annotations

import os
import sys

import honcho.manager
from honcho.command import main

if not isinstance(getattr(honcho.manager, "KILL_WAIT", None), (int, float)):
    sys.exit("deploy/run_honcho.py: this honcho has no honcho.manager.KILL_WAIT; check its shutdown before upgrading")
honcho.manager.KILL_WAIT = float(os.environ.get("ARENA_STOP_TIMEOUT") or 60)

if __name__ == "__main__":
    main()
