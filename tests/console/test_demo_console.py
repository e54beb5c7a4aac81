"""`metra demo` opens the console at the end: after the history read it prints the console's URL
and the first administrator's one-time secret, serves the API and the console on loopback while
reading on schedule, and stops on Ctrl-C (SEC-5: no default credentials). ``--once`` never
serves (tests/cli/test_demo.py would hang otherwise); ``--no-serve`` reads on schedule only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .test_browser import free_port


def test_sec5_demo_serves_the_console_with_a_one_time_secret(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("METRA_MASTER_KEY", "METRA_BOOTSTRAP_SECRET")
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from metra.cli.main import app; app()",
            "demo",
            "--meters",
            "3",
            "--days",
            "1",
            "--no-faults",
            "--every",
            "3600",
            "--db",
            str(tmp_path / "demo.sqlite"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stderr.readline, "")),
        daemon=True,  # type: ignore[union-attr]
    )
    reader.start()
    try:
        deadline = time.monotonic() + 120
        secret = None
        while secret is None:
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            found = re.search(r"one-time secret \(shown only now\): (\S+)", "".join(lines))
            secret = found.group(1) if found else None
            time.sleep(0.2)
        assert f"web console: http://127.0.0.1:{port}/console/" in "".join(lines)
        base = f"http://127.0.0.1:{port}"
        page = None
        while page is None and time.monotonic() < deadline:
            try:
                page = httpx.get(f"{base}/console/login", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and 'name="csrf"' in page.text
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "admin", "password": secret}, timeout=10
        )
        assert login.status_code == 200 and login.json()["must_change_password"] is True
        assert (
            httpx.post(
                f"{base}/api/v1/auth/login",
                json={"username": "admin", "password": "admin"},
                timeout=10,
            ).status_code
            == 401
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, "".join(lines)
