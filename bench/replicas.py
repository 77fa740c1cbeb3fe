"""Two app replicas behind Debian's nginx with deploy/nginx.conf's session affinity, on this machine, no Docker.

Sessions in headless Chromium, each its own cookie jar, go through nginx: the home page, an image upload on
the segmentation lab, the positional lab's d_model slider (bound to the URL), a short training job on the
RNN lab; then their websocket drops and reconnects, and the page reloads. The trained run must still be
theirs after both, and nginx's log must show every request of a session served by one replica, and both
replicas serving sessions (sessions are added until both do, up to a cap).

    python -m bench.replicas [--sessions 4]

Prints a JSON summary on stdout; exits 1 if a session lost its state, MISSING_TOOL if nginx or Chromium is
missing. nginx runs as the calling user from a temporary prefix, with deploy/nginx.conf's upstream servers
replaced by the replicas' ports and a main context of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from PIL import Image
from playwright.async_api import Browser, Locator, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bench.load import (
    PAGE_TIMEOUT_MS,
    ROOT,
    SLIDER_CLOCK,
    app_servers,
    exception_shown,
    launch,
    move_slider,
    open_page,
    train,
    wait_for_app,
)
from tests.e2e.conftest import _free_port, _wait_until_healthy, chromium_path

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
MISSING_TOOL = 3
STEPS = 50  # a short training job: the point is the state it leaves, not its accuracy
EXTRA_SESSIONS = 8  # at most this many more sessions to reach the second replica
MAIN_CONF = """daemon off;
pid nginx.pid;
error_log error.log;
events {{
    worker_connections 1024;
}}
http {{
    client_body_temp_path body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
{site}
}}
"""
# Keep the page's websockets, so that a session can lose its connection as a network drop would lose it.
KEEP_SOCKETS = """(() => {
    const Native = window.WebSocket;
    window.seqlabSockets = [];
    window.WebSocket = class extends Native {
        constructor(...args) { super(...args); window.seqlabSockets.push(this); }
    };
})();"""
DROP_SOCKETS = "window.seqlabSockets.forEach((socket) => socket.close(4000, 'network drop'))"
LOG_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) route=(?P<route>\S+) upstream=(?P<upstream>.*)$')


def nginx_path() -> str | None:
    """Debian's nginx lives in /usr/sbin, which a non-root PATH often lacks."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render_config(ports: list[int], listen: int) -> str:
    """deploy/nginx.conf with the upstream servers on local ``ports``, listening on 127.0.0.1:``listen`` and
    logging into nginx's prefix, inside a main context that a non-root nginx can run."""
    site = NGINX_CONF.read_text()
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in ports)
    site, replaced = re.subn(r"(?m)^ *server app\d+:8501;\n", "", site)
    site, hashes = re.subn(r"(?m)^ *hash \$seqlab_route consistent;\n", lambda match: match.group(0) + servers, site)
    site, listens = re.subn(r"\blisten 80;", f"listen 127.0.0.1:{listen};", site)
    if not (replaced and hashes == 1 and listens == 1):
        raise ValueError(f"{NGINX_CONF} lacks the upstream servers, hash or listen line this script replaces")
    return MAIN_CONF.format(site=site.replace("/var/log/nginx/", ""))


@contextlib.contextmanager
def nginx(ports: list[int]) -> Iterator[tuple[str, Path]]:
    """nginx in front of the app servers on ``ports``; yields its URL and its access log once healthy."""
    with tempfile.TemporaryDirectory(prefix="seqlab-nginx-") as prefix:
        os.chmod(prefix, 0o755)  # when started by root, nginx's workers run as nobody
        listen, conf, error_log = _free_port(), Path(prefix) / "nginx.conf", Path(prefix) / "error.log"
        conf.write_text(render_config(ports, listen))
        process = subprocess.Popen([nginx_path(), "-p", prefix, "-e", str(error_log), "-c", str(conf)])
        url = f"http://127.0.0.1:{listen}"
        try:
            _wait_until_healthy(url, process, error_log)
            yield url, Path(prefix) / "access.log"
        finally:
            process.terminate()
            process.wait(timeout=30)


def upstreams_by_route(access_log: Path) -> dict[str, set[str]]:
    """For each route cookie, the replicas (upstream addresses) that served its requests."""
    served = defaultdict(set)
    for line in access_log.read_text().splitlines():
        if match := LOG_LINE.search(line):
            served[match["route"]].add(match["upstream"])
    return served


def gradient_png() -> bytes:
    """A small image with something to segment (a flat one is refused)."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


async def shows_run(page: Page) -> bool:
    """Whether the RNN lab says the model shown is the session's own trained run (not the pretrained one)."""
    mine = page.get_by_test_id("stAlert").filter(has_text=f"your model, trained live for {STEPS} steps")
    try:
        await mine.first.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        return False
    return True


async def rerun(page: Page, tries: int = 5) -> None:
    """Make the server run the page's script again (Streamlit's "r" shortcut) and wait for the result. A press
    can be lost, or its short run finish between two looks (in CI once, 180 s of waiting): press again."""
    for _ in range(tries):
        await page.keyboard.press("r")
        try:
            await page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=15_000)
            return await wait_for_app(page)
        except PlaywrightTimeout:
            continue
    raise TimeoutError(f"no rerun started after {tries} presses of r")


async def open_tab(page: Page, name: str, inside: str, tries: int = 10) -> Locator:
    """Select the tab ``name`` and return its panel once the ``inside`` selector is there. A click while the
    page's first run is still drawing can be undone by that run (in CI once: five clicks, and the panel never
    came), so click again until the panel shows it."""
    tab, panel = page.get_by_role("tab", name=name), page.get_by_role("tabpanel", name=name)
    for _ in range(tries):
        await tab.click()
        await wait_for_app(page)
        try:
            await panel.locator(inside).first.wait_for(state="attached", timeout=10_000)
            return panel
        except PlaywrightTimeout:
            continue
    raise TimeoutError(f"the {name!r} tab did not open after {tries} clicks")


async def describe(page: Page) -> dict:
    """What a failed session's page showed, for the summary: where it was, the script's state, the selected
    tab, any exception box, and a screenshot's path."""
    with contextlib.suppress(Exception):
        app = page.get_by_test_id("stApp")
        selected = page.locator("[role=tab][aria-selected=true]")
        shot = Path(tempfile.mkdtemp(prefix="seqlab-replicas-")) / "page.png"
        await page.screenshot(path=str(shot), full_page=True)
        return {
            "url": page.url,
            "connection": await app.get_attribute("data-test-connection-state"),
            "script": await app.get_attribute("data-test-script-state"),
            "selected_tabs": await selected.all_inner_texts(),
            "exception": await exception_shown(page),
            "screenshot": str(shot),
        }
    return {"url": page.url}


async def student(page: Page, url: str, timeout_s: float) -> dict:
    """One session after its home page: upload, slider, training, dropped websocket, reload; what held."""
    result = {}
    try:
        await page.goto(f"{url}/segmentation")
        await wait_for_app(page)
        panel = await open_tab(page, "Your image", "input[type=file]")
        image = {"name": "gradient.png", "mimeType": "image/png", "buffer": gradient_png()}
        await panel.locator("input[type=file]").set_input_files(image)
        await panel.get_by_test_id("stPlotlyChart").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        result["upload"] = True

        await page.goto(f"{url}/positional")
        await wait_for_app(page)
        await move_slider(page, 130)
        result["slider_in_url"] = "pe_d=130" in page.url

        await page.goto(f"{url}/rnn?rnn_steps={STEPS}")
        await wait_for_app(page)
        result["training"] = await train(page, timeout_s)
        result["run_shown"] = await shows_run(page)

        async with page.expect_websocket(timeout=PAGE_TIMEOUT_MS) as reconnect:
            await page.evaluate(DROP_SOCKETS)
        await reconnect.value
        await wait_for_app(page)
        await rerun(page)
        result["run_after_reconnect"] = await shows_run(page)

        await page.reload()
        await wait_for_app(page)
        result["run_after_reload"] = await shows_run(page)
    except Exception as error:
        result["error"] = f"{type(error).__name__}: {error}"[:300]
        result["page"] = await describe(page)
    checks = ("upload", "slider_in_url", "run_shown", "run_after_reconnect", "run_after_reload")
    result["kept"] = all(result.get(check) for check in checks) and result.get("training", {}).get("finished", False)
    return result


async def drive(executable: str | None, url: str, access_log: Path, sessions: int, timeout_s: float) -> list[dict]:
    """Open ``sessions`` sessions on the home page (more, up to EXTRA_SESSIONS, until both replicas have one),
    then drive them all at once."""
    async with async_playwright() as playwright:
        browser: Browser = await launch(playwright, executable)
        opened = []

        def replicas_reached() -> int:
            served = upstreams_by_route(access_log)
            return len(set().union(*(served[route] for _, _, route in opened)))

        while len(opened) < sessions or (replicas_reached() < 2 and len(opened) < sessions + EXTRA_SESSIONS):
            context, page = await open_page(browser, url, KEEP_SOCKETS + SLIDER_CLOCK)
            route = next(c["value"] for c in await context.cookies() if c["name"] == "seqlab_route")
            opened.append((context, page, route))
        results = await asyncio.gather(*(student(page, url, timeout_s) for _, page, _ in opened))
        for (context, _, route), result in zip(opened, results, strict=True):
            result["route"] = route
            await context.close()
        await browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4, help="sessions to drive (more if one replica got none)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a training job may take")
    args = parser.parse_args(argv)
    try:
        executable = chromium_path()
    except LookupError as error:
        print(error, file=sys.stderr)
        return MISSING_TOOL
    if nginx_path() is None:
        print("nginx is missing: apt-get install -y nginx", file=sys.stderr)
        return MISSING_TOOL
    start = time.monotonic()
    with app_servers(2) as servers, nginx([int(url.rsplit(":", 1)[1]) for url, _ in servers]) as (url, access_log):
        sessions = asyncio.run(drive(executable, url, access_log, args.sessions, args.timeout))
        served = upstreams_by_route(access_log)
    for session in sessions:
        session["replicas"] = sorted(served[session["route"]])
    summary = {
        "sessions": sessions,
        "sessions_by_replica": Counter(r for s in sessions for r in s["replicas"]),
        "lost": sum(not s["kept"] or len(s["replicas"]) != 1 for s in sessions),
        "seconds": round(time.monotonic() - start, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["lost"] == 0 and len(summary["sessions_by_replica"]) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
