"""The lab's runs: validated specs, one road to the engine (a trainer, or a group when comparing), which runs ship
pretrained, and checkpoints that load with weights_only=True into the same model."""

from dataclasses import replace

import pytest
import torch

from models.core.checkpoint import CheckpointError, save_checkpoint
from models.core.engine import TrainConfig, Trainer, TrainerGroup
from models.data.seq2seq import DigitWords
from models.data.videos import MovingSquares
from models.data.words import LexiconWords
from models.labs.applications import pretrain as recipe
from models.labs.applications.pretrain import checkpoint_path, load_pretrained, single, train_model
from models.labs.applications.spec import (
    CharLMRun,
    Seq2SeqRun,
    VideoRun,
    build_trainer,
    default_models,
    default_run,
    experiment_of,
    has_pretrained,
)

TINY = {
    "charlm": CharLMRun(hidden_size=8, data=LexiconWords(8), train=TrainConfig(steps=3)),
    "seq2seq": Seq2SeqRun(hidden_size=8, embedding_size=4, task=DigitWords(1, 3, 8), train=TrainConfig(steps=3)),
    "video": VideoRun(hidden_channels=2, task=MovingSquares(frames=4, batch_size=2), train=TrainConfig(steps=3)),
}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CharLMRun(cell="rnn"), "cell"),
        (lambda: CharLMRun(hidden_size=0), "hidden size"),
        (lambda: CharLMRun(num_layers=9), "layers"),
        (lambda: Seq2SeqRun(hidden_size=10**4), "hidden size"),
        (lambda: VideoRun(body="transformer"), "body"),
        (lambda: default_run("translation"), "experiment"),
        (lambda: default_run("video", lr=-1.0), "learning rate"),
    ],
)
def test_a_run_that_cannot_work_is_refused_with_a_reason(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("experiment", list(TINY))
def test_every_experiment_trains_through_the_engine(experiment):
    run = TINY[experiment]
    assert experiment_of(run) == experiment
    trainer = build_trainer(run, device="cpu")
    assert isinstance(trainer, Trainer)
    trainer.run()
    assert trainer.status == "finished" and len(trainer.history) == 3
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.parametrize(("experiment", "names"), [("seq2seq", ("plain", "attention")), ("video", ("convlstm", "cnn"))])
def test_compare_trains_both_models_side_by_side_from_one_seed(experiment, names):
    group = build_trainer(replace(TINY[experiment], compare=True), device="cpu")
    assert isinstance(group, TrainerGroup) and tuple(group.trainers) == names
    while not group.done:
        group.run_for(0.05)
    assert group.status == "finished" and group.step == 3


def test_which_runs_ship_pretrained():
    assert has_pretrained(default_run("charlm", steps=5))
    assert not has_pretrained(CharLMRun(cell="gru")) and not has_pretrained(CharLMRun(hidden_size=64))
    assert has_pretrained(Seq2SeqRun(attention=False)) and has_pretrained(Seq2SeqRun(compare=True), "plain")
    assert not has_pretrained(Seq2SeqRun(task=DigitWords(1, 12)))
    assert has_pretrained(VideoRun(body="cnn")) and not has_pretrained(VideoRun(hidden_channels=16))
    assert default_models(VideoRun()) == ("convlstm", "cnn")


@pytest.mark.parametrize("experiment", list(TINY))
def test_a_checkpoint_loads_with_weights_only_into_the_same_model(experiment, tmp_path):
    run = TINY[experiment]
    for name in default_models(run):
        model, meta = train_model(single(run, name))
        path = save_checkpoint(checkpoint_path(tmp_path, experiment, name), model, model.config(), meta)
        payload = torch.load(path, weights_only=True)  # plain tensors and Python values only
        assert payload["meta"]["steps"] == 3 and set(payload["meta"]["curves"]) >= {"step", "loss"}
        loaded, loaded_meta = load_pretrained(tmp_path, experiment, name)
        assert not loaded.training and loaded_meta == meta
        for key, value in model.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key


def test_a_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_pretrained(tmp_path, "video", "convlstm")
    with pytest.raises(ValueError, match="experiment"):
        load_pretrained(tmp_path, "translation", "plain")


def test_pretrain_writes_every_default_model(tmp_path, monkeypatch):
    """The recipe, on tiny runs: one checkpoint per shipped model, each loadable with its scores."""
    monkeypatch.setattr(recipe, "default_run", lambda experiment: TINY[experiment])
    paths = recipe.pretrain(tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "applications_charlm_lstm.pt",
        "applications_seq2seq_plain.pt",
        "applications_seq2seq_attention.pt",
        "applications_video_convlstm.pt",
        "applications_video_cnn.pt",
    ]
    _, meta = load_pretrained(tmp_path, "video", "cnn")
    assert {"iou", "accuracy", "copy_last_iou"} <= set(meta["scores"]) and meta["seconds"] > 0
