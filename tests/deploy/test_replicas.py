"""Replicas behind nginx on this machine (bench/replicas.py): the rendered nginx configuration is valid, and
sessions driven through it keep their state. Without nginx or Chromium these tests skip, but fail in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.replicas import MISSING_TOOL, nginx_path, render_config

ROOT = Path(__file__).resolve().parents[2]


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def test_nginx_accepts_the_rendered_configuration():
    if nginx_path() is None:
        missing("nginx is missing (apt-get install -y nginx)")
    rendered = render_config([8601, 8602], 8600)
    assert "server 127.0.0.1:8601;\n    server 127.0.0.1:8602;\n" in rendered and "server app" not in rendered
    with tempfile.TemporaryDirectory() as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(rendered)
        command = [nginx_path(), "-t", "-p", prefix, "-e", f"{prefix}/error.log", "-c", str(conf)]
        checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_sessions_keep_their_state_on_two_replicas_behind_nginx():
    run = subprocess.run(
        [sys.executable, "-m", "bench.replicas"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    if run.returncode == MISSING_TOOL:
        missing(run.stderr.strip())
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    summary = json.loads(run.stdout)
    assert summary["lost"] == 0
    assert len(summary["sessions_by_replica"]) == 2
