"""Load harness: K real sessions (headless Chromium contexts) train the RNN lab's default run on ONE app server
while one more session moves the d_model slider of the positional-encoding page and times each redraw.

For each K: every session's time from "Train live" to the run's end, whether it finished, the queue message
it saw (if any) and any exception the page showed; p50/p95 of the slider's redraw latency, timed by the page's
own clock from the key's arrival to the first frame that shows the new chart (and, apart, to the rerun's last
websocket message); the memory of the server and its training child processes together (PSS), idle (after one
visit to each page), at its peak (sampled each second) and after the sessions. Each K gets a fresh server,
started as tests/e2e/conftest.py starts it, with OMP_NUM_THREADS=1.

The browsers share this machine, standing in for the students' own laptops. The K training sessions' Chromium
runs at the lowest priority Linux has (``--browser-nice``, default 19; each thread of each of its processes and
their autogroups, renewed every second as renderers come and go), so it takes mostly what the server and its
training children leave idle (with only its processes at niceness 10, the K = 8 students' Chromium took 68 of
the 120 CPU-seconds of a minute, the two training children 21 and the server 6). The measured student's
Chromium is a second browser at the server's priority, as if on a laptop of its own. Not part of `make bench`
(minutes per K):

    python -m bench.load --k 1 4 8 16

writes ``bench/results.json["load"]`` (all K of one invocation together). bench/replicas.py reuses the
helpers here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bench.__main__ import RESULTS, machine
from tests.e2e.conftest import CHROMIUM_ARGS, _free_port, _wait_until_healthy, chromium_path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = "Train live"  # the RNN lab's tab and button
RUN_ANYWAY = "Run anyway"  # the cost guard holds a run it estimates too long until this is pressed
ENDED = re.compile(r"Training (finished|stopped)[^\n]*")
QUEUE = re.compile(r"[^\n]*\bqueue\b[^\n]*", re.IGNORECASE)
POLL_SECONDS = 0.5
SLIDER_PAUSE_SECONDS = 1.0  # between two slider moves: a student reads the chart
PAGE_TIMEOUT_MS = 180_000


# In the slider's page: when a key arrived and each websocket message after it, on the page's own clock (the
# harness's process, busy with K pages, would add its own delay to every time it took).
SLIDER_CLOCK = """(() => {
    window.seqlabClock = {key: 0, seen: 0, messages: []};
    document.addEventListener("keydown", () => { window.seqlabClock = {key: performance.now(), messages: []}; }, true);
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("message", () => window.seqlabClock.messages.push(performance.now()));
        }
    };
})();"""
TITLE_SHOWN = """(value) => [...document.querySelectorAll("svg text")]
    .some((text) => text.textContent.includes(`x d=${value},`)) && (window.seqlabClock.seen = performance.now())"""


@contextlib.contextmanager
def app_servers(count: int) -> Iterator[list[tuple[str, subprocess.Popen]]]:
    """``count`` app servers on free loopback ports, each with one torch thread and its own run store, as on
    separate machines; yields their (url, process) once all are healthy and stops them afterwards. Their logs:
    ``$TMPDIR/seqlab-<port>.log``."""
    started: list[tuple[str, subprocess.Popen, Path]] = []
    with tempfile.TemporaryDirectory(prefix="seqlab-runs-") as runs:
        try:
            for _ in range(count):
                port = _free_port()
                log_path = Path(tempfile.gettempdir()) / f"seqlab-{port}.log"
                command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
                command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
                command += ["--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
                env = os.environ | {"OMP_NUM_THREADS": "1", "SEQLAB_RUNS_DIR": f"{runs}/{port}"}
                with log_path.open("w") as log:
                    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
                started.append((f"http://127.0.0.1:{port}", process, log_path))
            for url, process, log_path in started:
                _wait_until_healthy(url, process, log_path)
            yield [(url, process) for url, process, _ in started]
        finally:
            for _, process, _ in started:
                process.terminate()
            for _, process, _ in started:
                process.wait(timeout=30)


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, its children's children included."""
    found, stack = [], [pid]
    while stack:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{stack.pop()}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                stack += children
    return found


def tree_memory_mb(pid: int) -> float:
    """Memory of ``pid`` and its descendants (the server and its forked training children), in MB: the sum of
    their proportional set sizes, so that pages a child shares with the server count once."""
    total = 0.0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, StopIteration):
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
            total += int(next(line for line in rollup if line.startswith("Pss:")).split()[1]) / 1024
    return round(total, 1)


async def sample_peak(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    """Keep ``peak[0]`` at the highest :func:`tree_memory_mb` seen each second until ``stop``."""
    while not stop.is_set():
        peak[0] = max(peak[0], tree_memory_mb(pid))
        await asyncio.sleep(1.0)


def lower_priority(pids: list[int], niceness: int) -> None:
    """Run every thread of ``pids`` at ``niceness`` (Linux keeps a niceness per thread, not per process), and
    their autogroups too: Chromium starts its processes in sessions of their own, and with autogroup scheduling
    each session gets a fair share of the cores whatever its processes' niceness (at K = 16 the renderers at
    niceness 19 took 81 of 113 CPU-seconds, the training children 7)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(niceness))
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)


async def keep_low(roots: list[int], niceness: int, stop: asyncio.Event) -> None:
    """Until ``stop``, each second: ``roots`` and all their descendants at ``niceness`` (a browser's renderers come
    and go with its pages, each starting at niceness 0)."""
    while not stop.is_set():
        lower_priority([tree for root in roots for tree in (root, *descendants(root))], niceness)
        await asyncio.sleep(1.0)


async def launch(playwright, executable: str | None) -> Browser:
    """Headless Chromium as the e2e tests launch it (``executable``: see tests/e2e/conftest.chromium_path)."""
    return await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


async def wait_for_app(page: Page) -> None:
    """Wait until the script has run to the end (as tests/e2e/conftest.wait_for_app does)."""
    for state in ("data-test-connection-state='CONNECTED'", "data-test-script-state='notRunning'"):
        await page.wait_for_selector(f"[data-testid='stApp'][{state}]", timeout=PAGE_TIMEOUT_MS)


async def open_page(browser: Browser, url: str, init_script: str | None = None) -> tuple[BrowserContext, Page]:
    """A new session (its own context, so its own cookies) with ``url`` loaded, after ``init_script`` if given."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1800})
    context.set_default_timeout(PAGE_TIMEOUT_MS)  # a loaded 2-core server takes far longer than Playwright's 30 s
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    await page.goto(url, timeout=PAGE_TIMEOUT_MS)
    await wait_for_app(page)
    return context, page


async def exception_shown(page: Page) -> str | None:
    """The first exception box on the page, if any (a stack trace in front of the class)."""
    boxes = page.get_by_test_id("stException")
    return (await boxes.first.inner_text())[:300] if await boxes.count() else None


async def train(page: Page, timeout_s: float) -> dict:
    """Press the RNN lab's "Train live" and wait for the run to end: its time, whether it finished, the first
    queue message the panel showed, whether the cost guard asked for a confirmation (given, as a student would)
    and any exception on the page."""
    await page.get_by_role("tab", name=TRAIN).click()
    panel = page.get_by_role("tabpanel", name=TRAIN)
    await panel.get_by_role("button", name=TRAIN).click()
    run_anyway = panel.get_by_role("button", name=RUN_ANYWAY)
    start, queue, confirmed = time.monotonic(), None, False
    while True:
        text = await panel.inner_text()
        queue = queue or next(iter(QUEUE.findall(text)), None)
        if not confirmed and await run_anyway.count():
            await run_anyway.first.click()
            confirmed = True
        ended, exception = ENDED.search(text), await exception_shown(page)
        if ended or exception or time.monotonic() - start > timeout_s:
            break
        await asyncio.sleep(POLL_SECONDS)
    return {
        "seconds": round(time.monotonic() - start, 1),
        "finished": bool(ended and ended.group(1) == "finished"),
        "status": ended.group(0) if ended else None,
        "queue": queue,
        "confirmed": confirmed,
        "exception": exception,
    }


async def train_session(browser: Browser, url: str, query: str, timeout_s: float) -> dict:
    """One student: open the RNN lab (with ``query``, e.g. "?rnn_steps=800"), train its run to the end."""
    context = None
    try:
        context, page = await open_page(browser, f"{url}/rnn{query}")
        return await train(page, timeout_s)
    except Exception as error:  # a lost session is a result, not a crash of the harness
        return {"finished": False, "error": f"{type(error).__name__}: {error}"[:300]}
    finally:
        if context is not None:
            await context.close()


async def move_slider(page: Page, value: int) -> tuple[float, float]:
    """Set the positional lab's d_model slider one step to ``value`` from the keyboard (the page opened with
    ``SLIDER_CLOCK``). Timed by the page's own clock, from the key's arrival: seconds until a frame shows the
    encoding heatmap's title with ``value``, and until the last websocket message of that rerun arrived."""
    await page.get_by_role("slider", name=re.compile("d_model")).focus()
    await page.keyboard.press("ArrowRight" if value > 128 else "ArrowLeft")
    await page.wait_for_function(TITLE_SHOWN, arg=value, polling="raf", timeout=PAGE_TIMEOUT_MS)
    await wait_for_app(page)
    clock = await page.evaluate("window.seqlabClock")
    return (clock["seen"] - clock["key"]) / 1000, (max(clock["messages"], default=clock["key"]) - clock["key"]) / 1000


def percentiles(seconds: list[float]) -> dict:
    """p50, p95 and max of ``seconds``, rounded to 10 ms."""
    p50, p95 = np.percentile(seconds, [50, 95])
    return {"p50_s": round(float(p50), 2), "p95_s": round(float(p95), 2), "max_s": round(max(seconds), 2)}


async def slider_session(browser: Browser, url: str, stop: asyncio.Event) -> dict:
    """One more student moves the d_model slider (128 <-> 130) until ``stop``; the redraw latencies as the
    student sees them, and until the rerun's last message reached the page (it can arrive after the chart:
    Streamlit's end-of-run message)."""
    latencies, served, error, context = [], [], None, None
    try:
        context, page = await open_page(browser, f"{url}/positional", SLIDER_CLOCK)
        while not stop.is_set():
            seen, server = await move_slider(page, 130 if len(latencies) % 2 == 0 else 128)
            latencies.append(seen)
            served.append(server)
            await asyncio.sleep(SLIDER_PAUSE_SECONDS)
        error = await exception_shown(page)
    except Exception as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    finally:
        if context is not None:
            await context.close()
    summary = {"moves": len(latencies), "error": error}
    if latencies:
        summary |= percentiles(latencies) | {"server": percentiles(served)}
    return summary


async def measure(executable: str | None, k: int, query: str, timeout_s: float, browser_nice: int) -> dict:
    """K training sessions and the slider session against one fresh server."""
    with app_servers(1) as [(url, server)]:
        async with async_playwright() as playwright:
            own_laptop = await launch(playwright, executable)  # the measured student's: the server's priority
            started = set(descendants(os.getpid()))
            browser = await launch(playwright, executable)  # the K students': background load at low priority
            stop = asyncio.Event()
            renicer = asyncio.create_task(keep_low(sorted(set(descendants(os.getpid())) - started), browser_nice, stop))
            for page in ("rnn", "positional"):  # warm up: imports, caches, pretrained checkpoints
                context, _ = await open_page(browser, f"{url}/{page}")
                await context.close()
            idle, peak = tree_memory_mb(server.pid), [0.0]
            sampler = asyncio.create_task(sample_peak(server.pid, stop, peak))
            slider = asyncio.create_task(slider_session(own_laptop, url, stop))
            sessions = await asyncio.gather(*(train_session(browser, url, query, timeout_s) for _ in range(k)))
            stop.set()
            slider_summary = await slider
            await asyncio.gather(sampler, renicer)
            await browser.close()
            await own_laptop.close()
        after = tree_memory_mb(server.pid)
    seconds = [s["seconds"] for s in sessions if s.get("finished")]
    return {
        "sessions": sessions,
        "all_finished": len(seconds) == k,
        "no_exception": not any(s.get("exception") or s.get("error") for s in sessions) and not slider_summary["error"],
        "queue_shown": sum(bool(s.get("queue")) for s in sessions),
        "finish_seconds": {"min": min(seconds), "median": round(float(np.median(seconds)), 1), "max": max(seconds)}
        if seconds
        else None,
        "slider_redraw": slider_summary,
        "memory_mb": {"idle": idle, "peak": peak[0], "after": after},
        "per_session_mb": round((peak[0] - idle) / k, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 8, 16], help="numbers of training sessions")
    parser.add_argument("--steps", type=int, help="training steps per run (default: the lab's default run)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a session may take to train")
    parser.add_argument("--browser-nice", type=int, default=19, help="niceness of Chromium (0: as the server)")
    args = parser.parse_args(argv)
    query = f"?rnn_steps={args.steps}" if args.steps else ""
    executable = chromium_path()  # before the event loop: it asks Playwright's sync API
    runs = {}
    for k in args.k:
        print(f"== K = {k}", file=sys.stderr, flush=True)
        runs[str(k)] = asyncio.run(measure(executable, k, query, args.timeout, args.browser_nice))
        print(json.dumps(runs[str(k)], indent=2), file=sys.stderr, flush=True)
    section = {
        "runs": runs,
        "steps": args.steps or "the RNN lab's default",
        "goal": "2 cores: p95 slider redraw under 1 s at K = 8, every session finished or queued with its position",
        "note": "memory: PSS in MB of the server and its training children, per session (peak - idle) / K; times in s",
        "browser_nice": args.browser_nice,
        "machine": machine() | {"cores": os.cpu_count()},
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["load"] = section
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(section, indent=2))
    ok = all(run["all_finished"] and run["no_exception"] for run in runs.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
