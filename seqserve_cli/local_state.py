"""Where a running ``python -m local serve`` says its URLs, so ``seqserve --local`` finds it.

The file is JSON ``{"api": URL, "aws": URL, "api_key": KEY or null, "pid": N}``, readable by its owner
only, written once the stack takes requests and removed when it stops. Its path is
``$SEQSERVE_LOCAL_STATE`` or ``seqserve-local-<uid>.json`` in the temporary directory (one per user:
two users' stacks do not overwrite each other's).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def state_path() -> Path:
    explicit = os.environ.get("SEQSERVE_LOCAL_STATE")
    if explicit:
        return Path(explicit)
    return Path(tempfile.gettempdir()) / f"seqserve-local-{os.getuid()}.json"


def write_state(*, api_url: str, aws_url: str, api_key: str | None = None) -> Path:
    path = state_path()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"api": api_url, "aws": aws_url, "api_key": api_key, "pid": os.getpid()}))
    # The key is a secret of this user's stack: the file is readable by its owner only.
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


def remove_state() -> None:
    """Remove the file if this process wrote it (a second stack's file is not ours to remove)."""
    state = read_state()
    if state is not None and state.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            state_path().unlink()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state() -> dict[str, Any] | None:
    """The running stack's URLs; None when no file, or its process is gone (a stale file)."""
    try:
        state = json.loads(state_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("api"), str) or not _alive(state.get("pid")):
        return None
    return state
