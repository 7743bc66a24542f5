"""Start, wait for and stop a MONAI Label server on this app (used by the tutorial and the real-server tests).

The server runs as a child process of the current (serving-environment) interpreter, bound to 127.0.0.1 by
default; :func:`stop_server` sends SIGINT (uvicorn's clean shutdown) and waits for the exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import app_dir

__all__ = ["free_port", "start_server", "wait_ready", "stop_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_server(
    bundles: str | Path | Sequence[str | Path],
    studies: str | Path,
    port: int,
    log_file: str | Path,
    host: str = "127.0.0.1",
    conf: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Launch ``monailabel start_server`` on :func:`..app_dir` with ``--conf bundles``; output goes to ``log_file``.

    Args:
        bundles: bundle folder(s) or folder(s) of bundles.
        studies: local datastore folder.
        port: TCP port.
        log_file: server log (stdout + stderr).
        host: address to bind.
        conf: further ``--conf`` key/values (e.g. ``{"skip_trainers": "true"}``).

    Returns:
        the server process (call :func:`wait_ready`, then :func:`stop_server`).
    """
    paths = [bundles] if isinstance(bundles, (str, Path)) else list(bundles)
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app_dir()), "--studies",
           str(studies), "--host", host, "--port", str(port), "--conf", "bundles", ",".join(str(p) for p in paths)]
    for key, value in (conf or {}).items():
        cmd += ["--conf", key, value]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(log_file, "ab")  # noqa: SIM115 - the child process owns it until stop_server
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 180.0) -> dict[str, Any]:
    """Poll ``GET {url}/info/`` until it answers; returns the info JSON.

    Raises:
        RuntimeError: the process exited, or no answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MONAI Label server exited with code {process.returncode} before it was ready.")
        try:
            with urllib.request.urlopen(f"{url}/info/", timeout=5) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1.0)
    raise RuntimeError(f"MONAI Label server at {url} did not answer /info/ within {timeout:.0f} s.")


def stop_server(process: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGINT (clean uvicorn shutdown), wait up to ``timeout`` s, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return int(process.returncode)
