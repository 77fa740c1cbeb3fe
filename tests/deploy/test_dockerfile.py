"""The deployment files agree with the project: the image pins torch as the Makefile does, runs as a non-root
user with a health check; nginx accepts the uploads Streamlit accepts; compose starts what nginx routes to."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def arguments(keyword: str) -> list[str]:
    return [args for key, args in instructions() if key == keyword]


def test_torch_is_pinned_as_in_the_makefile_from_the_cpu_index():
    makefile_pin = re.search(r"^TORCH_SPEC \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    build_args = dict(arg.split("=", 1) for arg in arguments("ARG"))
    assert build_args["TORCH_SPEC"] == makefile_pin
    assert build_args["TORCH_INDEX"].endswith("/whl/cpu")
    installs = arguments("RUN")
    torch_install = installs.index('pip install --index-url "$TORCH_INDEX" "$TORCH_SPEC"')
    assert torch_install < installs.index("pip install ."), "torch must be in place before the project pulls it"


def test_runs_as_a_non_root_user():
    keywords = [key for key, _ in instructions()]
    users = arguments("USER")
    assert users and users[-1] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, key in enumerate(keywords) if key == "RUN")


def test_health_check_port_and_headless_server():
    (health,) = arguments("HEALTHCHECK")
    assert "http://localhost:8501/_stcore/health" in health
    assert arguments("EXPOSE") == ["8501"]
    (command,) = arguments("CMD")
    for option in ("--server.port=8501", "--server.headless=true", "--server.address=0.0.0.0", "app.py"):
        assert option in command


def test_nginx_takes_the_uploads_streamlit_takes():
    streamlit_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"client_max_body_size (\d+)m;", nginx).group(1) == str(streamlit_mb)


def test_compose_starts_every_replica_nginx_routes_to():
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    routed = re.findall(r"^\s*server (app\d+):8501;", nginx, re.M)
    assert len(routed) >= 2
    assert re.findall(r"^  (app\d+):", compose, re.M) == routed
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in compose
    assert "build: .." in compose
