"""Page helpers shared by every lab: the sidebar, figures, errors, exports, live training.

Pages stay thin: widgets -> ``models`` + ``viz`` -> these helpers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from models.core.checkpoint import Checkpoint, load_checkpoint
from models.core.device import default_device, device_label, seed_everything
from models.core.engine import Trainer, TrainerGroup
from viz.style import presenter

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TICK_SECONDS = 0.6
TRAIN_SECONDS_PER_TICK = 0.4

PRESENTER_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stSidebar"] { min-width: 22rem; }
[data-testid="stCaptionContainer"] { display: none; }
</style>
"""


def sidebar() -> None:
    """The shared sidebar: device in use, global seed, presenter mode."""
    with st.sidebar:
        st.markdown("### Settings")
        try:
            st.caption(f"Device: **{device_label(device())}**")
        except ValueError as error:
            st.error(str(error))
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
    return bool(st.session_state.get("presenter", False))


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
    ensure_app_shell()
    st.title(title)
    st.caption(f"Lecture: {lecture}")
    st.markdown(summary)


def show_figure(fig: go.Figure, key: str, **kwargs) -> object:
    """Draw ``fig`` full width, with a PNG export in its toolbar and larger fonts in presenter mode."""
    shown = presenter(fig) if presenter_mode() else fig
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": f"seqlab_{key}", "scale": 2}}
    return st.plotly_chart(shown, width="stretch", key=key, config=config, **kwargs)


@contextmanager
def user_errors(stop: bool = False) -> Iterator[None]:
    """Show a ``ValueError`` from ``models`` as a message instead of a traceback; the page goes on (or, with
    ``stop``, ends there: what follows needs what failed)."""
    try:
        yield
    except ValueError as error:
        st.error(f"{error}", icon=":material/error:")
        if stop:
            st.stop()


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


def live_training(
    key: str,
    make_trainer: Callable[[], Trainer | TrainerGroup],
    render: Callable[[Trainer | TrainerGroup], None],
    start_label: str = "Train live",
) -> Trainer | TrainerGroup | None:
    """Start/stop buttons and a panel that trains in short ticks and redraws with ``render(trainer)``.

    The user's trainer lives in ``st.session_state[f"{key}_trainer"]``. While it runs, a fragment reruns
    every ``TICK_SECONDS`` and advances it for about ``TRAIN_SECONDS_PER_TICK``, so the page stays
    responsive and the Stop button acts between ticks. ``make_trainer`` may raise ``ValueError`` (bad
    settings): the message is shown and nothing else changes.
    """
    state_key, refresh_key = f"{key}_trainer", f"{key}_refresh"
    if st.button(start_label, key=f"{key}_start", type="primary", icon=":material/play_arrow:"):
        with user_errors():
            st.session_state[state_key] = make_trainer()
    trainer: Trainer | None = st.session_state.get(state_key)
    running = trainer is not None and not trainer.done
    in_full_run = {"value": True}  # the fragment's own reruns see False

    @st.fragment(run_every=TICK_SECONDS if running else None)
    def panel() -> None:
        current: Trainer | None = st.session_state.get(state_key)
        if current is None:
            return
        was_running = not current.done
        if was_running and st.button("Stop", key=f"{key}_stop", icon=":material/stop:"):
            current.request_stop()
        current.run_for(TRAIN_SECONDS_PER_TICK)
        st.progress(min(current.step / current.config.steps, 1.0), text=f"step {current.step} / {current.config.steps}")
        render(current)
        _status_message(current)
        if (was_running and current.done) or st.session_state.pop(refresh_key, False):
            _refresh_page(refresh_key, in_full_run["value"])

    panel()
    in_full_run["value"] = False
    return st.session_state.get(state_key)


def _refresh_page(refresh_key: str, in_full_run: bool) -> None:
    """Redraw the whole page once a run has ended (the views above the panel show its model).

    From the fragment's own tick, rerun the app now. In a full run, rerunning would drop the widget event
    that started it (a click on another button further down the page), so the next tick does it.
    """
    if in_full_run:
        st.session_state[refresh_key] = True
    else:
        st.rerun()


def _status_message(trainer: Trainer | TrainerGroup) -> None:
    if trainer.status == "diverged":
        st.error(f"Training stopped: {trainer.stop_reason}.", icon=":material/warning:")
    elif trainer.status == "stopped":
        st.warning(f"Training {trainer.stop_reason}.", icon=":material/pause:")
    elif trainer.status == "finished":
        st.success(f"Training {trainer.stop_reason}.", icon=":material/check:")
