"""`metra serve` as an operator runs it: a real uvicorn server on loopback, the first
administrator's one-time secret printed once, the API answering (SEC-5, ACC-3)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from metra.cli.main import app; app()",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_healthy(port: int, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("metra serve did not answer within 30 s")


def serving(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], int, str]:
    """A started server, its port and what failed tries printed. Another program on this
    machine may take the free port between our probe and the server's bind; only then is it
    tried again on another port (the output of the failed try is kept: it may hold the
    one-time secret)."""
    printed = ""
    for _ in range(3):
        port = free_port()
        process = start(db, port, env)
        try:
            wait_healthy(port, process)
            return process, port, printed
        except AssertionError as exc:
            if "address already in use" not in str(exc):
                raise
            printed += str(exc)
    raise AssertionError("no free loopback port for metra serve in 3 tries")


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=15)
    return out


def test_sec5_acc3_serve_creates_admin_once_and_answers(tmp_path: Path) -> None:
    """SEC-5: no default credentials, a one-time secret printed on the first run only; ACC-3: the
    API and its OpenAPI description answer on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRA_")}
    db = tmp_path / "metra.db"
    process, port, printed = serving(db, env)
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
        assert health.json()["status"] == "ok"
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert spec["paths"]["/api/v1/meters"]["get"]["x-permission"] == "masterdata:read"
    finally:
        out = printed + stop(process)
    assert "one-time secret (shown only now):" in out
    secret = out.split("one-time secret (shown only now):")[1].split()[0]
    assert len(secret) >= 20
    process, port, printed = serving(db, env)
    try:
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": "admin", "password": secret},
            timeout=5,
        ).json()
        assert login["must_change_password"] is True
    finally:
        again = printed + stop(process)
    assert "one-time secret" not in again and "created" not in again
