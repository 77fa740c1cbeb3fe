"""Checkpoints (round trip, corrupted and mismatched files), device selection and seeding."""

import pytest
import torch
from torch import nn

from models.core.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from models.core.device import default_device, seed_everything


def test_round_trip_restores_weights_config_and_meta(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    path = save_checkpoint(tmp_path / "m.pt", model, {"hidden": 3}, {"accuracy": 0.9})
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == {"hidden": 3} and checkpoint.meta == {"accuracy": 0.9}
    fresh = load_weights(nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3)), checkpoint)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_file_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(2, 2), {"a": [1, 2]})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "seqlab-checkpoint"


def test_a_corrupted_file_names_the_file_and_the_problem(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(2, 2), {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"m\.pt.*corrupted"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "corrupted"),
        (b"just some text\nthat is not a checkpoint\n", "corrupted"),
        (b"{'format': 'seqlab-checkpoint'}", "corrupted"),
        (bytes(range(256)) * 4, "corrupted"),
    ],
    ids=["empty", "text", "text-like-a-dict", "binary"],
)
def test_any_unreadable_file_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"bad\.pt.*{problem}"):
        load_checkpoint(path)


def test_a_checkpoint_without_its_weights_or_config_says_which(tmp_path):
    torch.save({"format": "seqlab-checkpoint", "version": 1, "config": {}}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"m\.pt.*without a valid state_dict"):
        load_checkpoint(tmp_path / "m.pt")


def test_a_missing_file_and_a_foreign_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a SeqLab checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_a_mismatched_model_lists_what_does_not_fit(tmp_path):
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "m.pt", nn.Linear(4, 3), {}))
    with pytest.raises(CheckpointError, match=r"shape mismatch.*weight: file \(3, 4\) vs model \(5, 4\)"):
        load_weights(nn.Linear(4, 5), checkpoint, source="m.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(nn.Sequential(nn.Linear(4, 3)), checkpoint)


def test_device_defaults_to_cuda_when_available_and_obeys_the_environment(monkeypatch):
    monkeypatch.delenv("SEQLAB_DEVICE", raising=False)
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("SEQLAB_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("SEQLAB_DEVICE", "toaster")
    with pytest.raises(ValueError, match="not a torch device"):
        default_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("SEQLAB_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            default_device()


def test_seeding_reproduces_random_draws():
    generator = seed_everything(123)
    first = torch.randn(5), torch.randn(3, generator=generator)
    generator = seed_everything(123)
    torch.testing.assert_close(first[0], torch.randn(5))
    torch.testing.assert_close(first[1], torch.randn(3, generator=generator))
    with pytest.raises(ValueError):
        seed_everything(-1)
