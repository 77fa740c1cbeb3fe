"""Every page that loads a checkpoint, with its default checkpoint damaged in each way a file can be: the page
runs on, and a message names the file and the problem."""

import io
import shutil

import pytest
import streamlit as st
import torch

from pages import _ui
from tests.conftest import open_page

DEFAULTS = {  # page -> the checkpoint its first view loads
    "pages/rnn.py": "rnn_pos_lstm.pt",
    "pages/gradients.py": "gradients_lstm.pt",
    "pages/applications.py": "applications_charlm_lstm.pt",
    "pages/positional.py": "positional_offset_copy_learned.pt",
    "pages/attention.py": "attention_reverse.pt",
    "pages/vit.py": "vit_digits.pt",
    "pages/segmentation.py": "segmentation_striped_unet.pt",
    "pages/highres.py": "highres_window.pt",
}


def _rewritten(data: bytes, change) -> bytes:
    payload = torch.load(io.BytesIO(data), weights_only=True)
    payload["state_dict"] = change(payload["state_dict"])
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


FAULTS = {
    "truncated": lambda data, foreign: data[: len(data) // 2],
    "empty": lambda data, foreign: b"",
    "text": lambda data, foreign: b"these are not the weights you are looking for\n",
    "wrong keys": lambda data, foreign: _rewritten(data, lambda state: {f"x.{k}": v for k, v in state.items()}),
    "wrong shapes": lambda data, foreign: _rewritten(
        data, lambda state: {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) if v.dim() else v for k, v in state.items()}
    ),
    "another lab's": lambda data, foreign: foreign,
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("page", DEFAULTS)
def test_a_damaged_checkpoint_is_a_message_naming_it(page, fault, tmp_path, monkeypatch):
    name = DEFAULTS[page]
    for source in _ui.ASSETS.iterdir():
        (tmp_path / source.name).symlink_to(source)
    foreign = next(other for other in DEFAULTS.values() if other.split("_")[0] != name.split("_")[0])
    (tmp_path / name).unlink()
    (tmp_path / name).write_bytes(FAULTS[fault]((_ui.ASSETS / name).read_bytes(), (_ui.ASSETS / foreign).read_bytes()))
    monkeypatch.setattr(_ui, "ASSETS", tmp_path)
    _forget_what_pages_read()
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    messages = " ".join(m.value for m in [*at.error, *at.warning, *at.info]).replace("\\", "")
    assert name in messages, (fault, messages[:500])
    _forget_what_pages_read()


def _forget_what_pages_read() -> None:
    """Pages cache the models they read from the assets (earlier tests read the real ones); the resource cache
    also holds the training pool, which is closed first (no job runs between tests)."""
    _ui.job_pool().close()
    st.cache_resource.clear()
    st.cache_data.clear()


def test_the_assets_are_unchanged_by_these_tests():
    assert not any(path.is_symlink() for path in _ui.ASSETS.iterdir())
    assert shutil.disk_usage(_ui.ASSETS).total > 0
