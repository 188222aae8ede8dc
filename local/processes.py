"""Child processes started in their own session and stopped by us, and free ports on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    *, argv: Sequence[str], environment: Mapping[str, str], log_file: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (Ctrl-C is ours to handle), its output appended to log_file."""
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(argv),
            env=dict(environment),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], *, grace_seconds: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
