"""Page helpers shared by every lab: the sidebar, figures, errors, exports, live training.

Pages stay thin: widgets -> ``models`` + ``viz`` -> these helpers.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from models.core.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from models.core.device import default_device, device_label, seed_everything
from models.core.engine import Trainer, TrainerGroup, at_chance
from models.core.jobs import Job, JobPool, Snapshot
from models.core.runs import RUN_ID, RunStore
from viz.style import presenter

MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]()#!|<>~$:.])")  # markup, and the : and . of autolinks

ASSETS = Path(__file__).resolve().parent.parent / "assets"
POLL_SECONDS = 0.8  # a running job's progress redraws at least once a second
QUEUED_POLL_SECONDS = 2.0  # a queued job only shows its place: each redraw is Python the other pages wait behind

PRESENTER_CSS = """
<style>
html { font-size: 18px; }
[data-testid="stMainBlockContainer"] { padding-top: 3.3rem; padding-bottom: 1rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.6rem; padding: 0; }
[data-testid="stAlert"] > div { padding-top: 0.4rem; padding-bottom: 0.4rem; }
[data-testid="stCaptionContainer"] { display: none; }
[data-testid="stBaseButton-secondary"] p, [data-testid="stBaseButton-primary"] p { white-space: normal; }
</style>
"""
SIDEBAR_CSS = """
<style>
[data-testid="stSidebarNav"] a span { white-space: normal; }
</style>
"""


def sidebar() -> None:
    """The shared sidebar: device in use, global seed, presenter mode."""
    with st.sidebar:
        st.markdown("### Settings")
        try:
            st.caption(f"Device: **{device_label(device())}**")
        except ValueError as error:
            st.error(literal(str(error)))
        st.number_input(
            "Seed",
            min_value=0,
            max_value=2**31 - 1,
            value=0,
            step=1,
            key="seed",
            bind="query-params",
            help="Every training run and generated batch starts from this seed.",
        )
        st.toggle(
            "Presenter mode",
            key="presenter",
            bind="query-params",
            help="Large fonts for a projector; secondary controls move to the sidebar.",
        )
    st.markdown(SIDEBAR_CSS, unsafe_allow_html=True)
    if presenter_mode():
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)


def device():
    return default_device()


def device_name() -> str:
    return device_label(device())


def global_seed() -> int:
    return int(st.session_state.get("seed", 0))


def seed_torch() -> None:
    """Seed torch (and Python, NumPy) with the sidebar's seed before building a fresh model."""
    seed_everything(global_seed())


def presenter_mode() -> bool:
    """Presenter mode, from this session's toggle or, before the toggle is drawn, from the link."""
    if "presenter" in st.session_state:
        return bool(st.session_state["presenter"])
    return st.query_params.get("presenter", "").lower() == "true"


def ensure_app_shell() -> None:
    """Make sure this page runs inside app.py's navigation, also on a fresh server's first request.

    With a folder named pages/ beside app.py, Streamlit starts in its legacy multipage mode and runs
    pages/<name>.py on its own (no shared sidebar, a second navigation) until some session calls
    st.navigation. A page that finds itself in that mode switches it off and reruns, so app.py routes it.
    Once per session: AppTest re-enters legacy mode on every run, and a rerun there would drop the click
    that started it.
    """
    if PagesManager.uses_pages_directory and not st.session_state.get("_app_shell_checked"):
        st.session_state["_app_shell_checked"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()


def lab_header(title: str, lecture: str, summary: str) -> None:
    """The lab's title, the slides it covers and what it shows (folded away in presenter mode: the projector
    keeps its first screen for the lecture figure)."""
    ensure_app_shell()
    st.title(title)
    st.caption(f"Lecture: {lecture}")
    if presenter_mode():
        with st.sidebar.expander("What this lab shows"):
            st.markdown(summary)
    else:
        st.markdown(summary)


def show_figure(fig: go.Figure, key: str, how: str | None = None, **kwargs) -> object:
    """Draw ``fig`` full width, with a PNG export in its toolbar and larger fonts in presenter mode; ``how`` is
    the "how to read this" under it: what to look at, and what the lecture predicts a student will see."""
    shown = presenter(fig) if presenter_mode() else fig
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": f"seqlab_{key}", "scale": 2}}
    event = st.plotly_chart(shown, width="stretch", key=key, config=config, **kwargs)
    if how:
        st.caption(f"**How to read this.** {how}")
    return event


def literal(text: str) -> str:
    """Text a user typed or a link carried, escaped so Streamlit's markdown shows it as typed: a shared link
    cannot make the page render an image (which the browser would fetch), a link, HTML or a colour directive."""
    return MARKDOWN_SYNTAX.sub(r"\\\1", text)


@contextmanager
def user_errors(stop: bool = False) -> Iterator[None]:
    """Show a ``ValueError`` from ``models`` as a message instead of a traceback; the page goes on (or, with
    ``stop``, ends there: what follows needs what failed)."""
    try:
        yield
    except ValueError as error:
        st.error(literal(str(error)), icon=":material/error:")
        if stop:
            st.stop()


def view_columns(count: int) -> list:
    """Places for the controls of one view: side by side, or in presenter mode one under the other in the
    sidebar, so the projector's first screen keeps the figure."""
    return [st.sidebar] * count if presenter_mode() else st.columns(count)


def secondary_controls(label: str = "More settings"):
    """A container for controls a projector audience does not need: in the sidebar in presenter mode."""
    if presenter_mode():
        return st.sidebar.expander(f"{label} (presenter mode)")
    return st.expander(label)


@st.cache_resource(show_spinner=False)
def cached_checkpoint(name: str) -> Checkpoint:
    """A read-only checkpoint from ``assets/`` shared by every session: copy it into a fresh model."""
    return load_checkpoint(ASSETS / name)


def export_buttons(key: str, arrays: dict[str, np.ndarray], settings: dict, csv: tuple[str, np.ndarray] | None = None):
    """Download buttons for the shown data (NPZ, optionally one matrix as CSV) and its settings (JSON)."""
    settings_json = json.dumps(settings, indent=2, default=str)

    def npz_bytes() -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, settings_json=np.array(settings_json), **arrays)
        return buffer.getvalue()

    downloads = [
        ("Data (NPZ)", npz_bytes, f"seqlab_{key}.npz", "npz", "application/octet-stream"),
        ("Settings (JSON)", settings_json, f"seqlab_{key}.json", "json", "application/json"),
    ]
    if csv:
        name, matrix = csv

        def csv_text() -> str:
            buffer = io.StringIO()
            np.savetxt(buffer, matrix, delimiter=",", fmt="%.6g")
            return buffer.getvalue()

        downloads.append((f"{name} (CSV)", csv_text, f"seqlab_{key}_{name}.csv", "csv", "text/csv"))
    for column, (label, data, file_name, suffix, mime) in zip(st.columns(len(downloads)), downloads, strict=True):
        column.download_button(
            label, data, file_name=file_name, key=f"{key}_{suffix}", mime=mime, icon=":material/download:"
        )


@st.cache_resource
def job_pool() -> JobPool:
    """The server's one training pool, shared by every session (sized by the ``SEQLAB_*`` environment)."""
    return JobPool.from_environment(os.environ, RunStore.from_environment(os.environ))


def live_training(
    key: str,
    make_trainer: Callable[[], Trainer | TrainerGroup],
    render: Callable[[Snapshot], None],
    start_label: str = "Train live",
    chance: tuple[str, float] | None = None,
    spec: object = None,
) -> Snapshot | None:
    """Start/stop buttons and a panel that shows the user's training job and redraws with ``render(snapshot)``.

    The run trains in the server's :func:`job_pool`, never in this script; the user's job lives in
    ``st.session_state[f"{key}_job"]`` and its id in the URL (``?{key}_run=...``), so a reload or a shared link
    reattaches to it. While it runs, a fragment polls every ``POLL_SECONDS`` and draws the latest snapshot (copies
    of the weights and history); while it is queued, every ``QUEUED_POLL_SECONDS``, with its place in the queue.
    ``make_trainer`` may raise ``ValueError`` (bad settings): the message is shown and nothing else changes.
    ``chance`` (metric, value): a run that ends there is reported as having learned nothing, with a likely reason.
    ``spec`` is what the run was made from (see :func:`current_run`).
    """
    job_key, refresh_key = f"{key}_job", f"{key}_refresh"
    if st.button(start_label, key=f"{key}_start", type="primary", icon=":material/play_arrow:"):
        with user_errors():
            _start(key, make_trainer(), spec)
    job = _job(key, make_trainer, spec)
    in_full_run = {"value": True}  # the fragment's own reruns see False
    queued = job is not None and job.state == "queued"
    every = None if job is None or _end_drawn(key, job) else QUEUED_POLL_SECONDS if queued else POLL_SECONDS

    @st.fragment(run_every=every)
    def panel() -> None:
        current: Job | None = st.session_state.get(job_key)
        if current is None:
            return
        current.touch()
        label = "Cancel" if current.state == "queued" else "Stop"
        if not current.done:
            st.button(label, key=f"{key}_stop", icon=":material/stop:", on_click=current.stop)
        _job_progress(current)
        _status_message(current.snapshot, chance)
        if current.state != "queued":
            render(current.snapshot)
        started = queued and current.state != "queued"  # poll at the running pace from now on
        if (current.done and not _end_drawn(key, current)) or st.session_state.pop(refresh_key, False) or started:
            _refresh_page(refresh_key, in_full_run["value"])

    panel()
    in_full_run["value"] = False
    return current_run(key)


def current_run(key: str, spec: object = None) -> Snapshot | None:
    """The latest snapshot of the user's run in panel ``key`` (None if none); with ``spec``, only if the run
    was made from an equal spec (the page's settings have not changed since)."""
    job = _job(key)
    if job is None or (spec is not None and job.spec != spec):
        return None
    run = job.snapshot
    if run.done:
        st.session_state[f"{key}_drawn"] = job.id
    return run


def ended_run_value(key: str, name: str, compute: Callable[[Snapshot], object]) -> object:
    """``compute(run)`` for the user's ended run in panel ``key``, computed once per run (a test-set score):
    every later rerun of the page reads it back from the session. Call it only when :func:`current_run` is done."""
    job, memo_key = _job(key), f"{key}_{name}"
    memo = st.session_state.get(memo_key)
    if memo is None or memo[0] != job.id:
        memo = st.session_state[memo_key] = (job.id, compute(job.snapshot))
    return memo[1]


def _end_drawn(key: str, job: Job) -> bool:
    """Whether the page has drawn ``job`` as ended (the views that read :func:`current_run` included)."""
    return job.done and st.session_state.get(f"{key}_drawn") == job.id


def _start(key: str, trainer: Trainer | TrainerGroup, spec: object) -> None:
    previous = st.session_state.get(f"{key}_job")
    if previous is not None:
        previous.stop()
    job = job_pool().submit(trainer, label=key, spec=spec)
    st.session_state[f"{key}_job"] = job
    st.query_params[f"{key}_run"] = job.id


def _job(key: str, make_trainer: Callable[[], Trainer | TrainerGroup] | None = None, spec: object = None) -> Job | None:
    """The session's job for panel ``key``, reattached from the URL's run id after a reload or in a new tab;
    with ``make_trainer`` (the panel's), also a run read back from disk after a server restart."""
    job_key, param = f"{key}_job", f"{key}_run"
    if job_key not in st.session_state and param in st.query_params:
        run_id = st.query_params[param]
        found = job_pool().get(run_id)
        if found is None and make_trainer is not None:
            found = _restore(run_id, key, make_trainer, spec)
            if found is None:
                del st.query_params[param]
        if found is not None:
            st.session_state[job_key] = found
    job = st.session_state.get(job_key)
    if job is not None and st.query_params.get(param) != job.id:
        st.query_params[param] = job.id  # page navigation drops parameters that no widget binds
    return job


def _restore(run_id: str, key: str, make_trainer: Callable[[], Trainer | TrainerGroup], spec: object) -> Job | None:
    """The run ``run_id`` from the pool's folder, its weights in a model built from this page's settings."""
    try:
        stored = job_pool().store.load(run_id) if RUN_ID.fullmatch(run_id) else None
        if stored is not None:
            trainer = make_trainer()
            models = trainer.models if isinstance(trainer, TrainerGroup) else trainer.model
            return job_pool().adopt(run_id, stored.snapshot(models), key, spec)
    except (ValueError, CheckpointError) as error:
        st.warning(literal(f"The run in this link could not be restored: {error}"), icon=":material/history:")
        return None
    st.info(f"The run in this link ({literal(run_id[:40])}) is no longer on this server.")
    return None


def _job_progress(job: Job) -> None:
    """Where the job stands: its place in the queue, a cost held for confirmation, or its progress."""
    pool = job_pool()
    snapshot, position = job.snapshot, pool.position(job)
    if position is not None and len(pool.running) >= pool.workers:  # else a worker is about to take it
        wait = pool.estimated_wait(job)
        about = f", starts in about {wait:.0f} s" if wait is not None else ""
        st.info(
            f"Waiting for a free trainer: position {position} in the queue{about}.",
            icon=":material/hourglass_top:",
        )
    elif job.state == "confirm":
        st.warning(
            f"This run would take about {job.estimate_seconds / 60:.1f} min on this server "
            f"({job.seconds_per_step * 1000:.0f} ms per step, {snapshot.config.steps - snapshot.step} steps left), "
            f"over the limit of {pool.cost_limit_seconds / 60:.0f} min. Fewer steps, a shorter sequence or a "
            "smaller model make it faster.",
            icon=":material/timer:",
        )
        st.button("Run anyway", key=f"{job.label}_confirm", on_click=job.confirm)
    st.progress(min(snapshot.step / snapshot.config.steps, 1.0), text=f"step {snapshot.step} / {snapshot.config.steps}")


def _refresh_page(refresh_key: str, in_full_run: bool) -> None:
    """Redraw the whole page once a run has ended (the views above the panel show its model).

    From the fragment's own tick, rerun the app now. In a full run, rerunning would drop the widget event
    that started it (a click on another button further down the page), so the next tick does it.
    """
    if in_full_run:
        st.session_state[refresh_key] = True
    else:
        st.rerun()


def _status_message(trainer: Snapshot, chance: tuple[str, float] | None) -> None:
    if trainer.status == "failed":
        st.error(literal(f"Training stopped: {trainer.stop_reason}."), icon=":material/error:")
    elif trainer.status == "diverged":
        st.error(f"Training stopped: {trainer.stop_reason}.", icon=":material/warning:")
    elif trainer.status in ("stopped", "interrupted"):
        st.warning(f"Training {trainer.stop_reason}.", icon=":material/pause:")
    elif trainer.status == "finished":
        stuck = _learned_nothing(trainer, chance)
        if stuck:
            st.warning(stuck, icon=":material/sentiment_dissatisfied:")
        else:
            st.success(f"Training {trainer.stop_reason}.", icon=":material/check:")


def _learned_nothing(trainer: Snapshot, chance: tuple[str, float] | None) -> str | None:
    """Why a finished run is not a success: its metric ended at chance, with the likeliest cause."""
    if chance is None:
        return None
    metric, level = chance
    members = trainer.trainers or {"the model": trainer}
    stuck = {name: at_chance(t.history, metric, level) for name, t in members.items()}
    stuck = {name: value for name, value in stuck.items() if value is not None}
    if not stuck:
        return None
    lr = trainer.config.lr
    cause = (
        f"the learning rate ({lr:g}) is likely too high: try 1e-3 to 1e-2"
        if lr >= 0.1
        else f"the learning rate ({lr:g}) may be too low, or the run too short"
        if lr <= 1e-4
        else "it needs more steps, or this model cannot learn the task (that can be the lesson)"
    )
    who = ", ".join(f"{name} {value:.0%}" for name, value in stuck.items())
    return (
        f"Training finished {trainer.step} steps but learned nothing: {metric} at chance ({level:.0%}): {who}. {cause}."
    )
