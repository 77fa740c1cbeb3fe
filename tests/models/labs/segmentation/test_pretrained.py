"""The committed checkpoints load with weights_only=True and score as the page states (their metadata, measured
on 200 validation images when they were made): re-measured here on fewer images."""

import pytest
import torch

from models.core.checkpoint import load_checkpoint
from models.core.pretrain import ASSETS
from models.labs.segmentation.analysis import evaluate, key_attention
from models.labs.segmentation.architectures import ARCHITECTURES
from models.labs.segmentation.pretrain import RECIPES, RF_RADIUS, checkpoint_path, load_pretrained

N_IMAGES = 32
EXPECTED = {  # recipe: (lowest, highest) Dice
    "striped_unet": (0.0, 0.70),
    "striped_utransformer": (0.95, 1.0),
    "striped_utransformer_mhsa": (0.95, 1.0),
    "local_unet": (0.9, 1.0),
    "mri_unet": (0.8, 1.0),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_checkpoints_load_with_weights_only_and_are_small(name):
    path = checkpoint_path(ASSETS, name)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["config"]["architecture"] in ARCHITECTURES
    assert path.stat().st_size < 700_000  # float16 weights
    meta = load_checkpoint(path).meta
    assert meta["steps"] == RECIPES[name].train.steps and meta["task"]["kind"] == RECIPES[name].task.kind


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RECIPES))
def test_pretrained_models_score_as_stated(name):
    model, task = load_pretrained(ASSETS, name), RECIPES[name].task
    result = evaluate(model, task, n_images=N_IMAGES)
    stated = load_checkpoint(checkpoint_path(ASSETS, name)).meta["validation_dice"]
    assert result.dice == pytest.approx(stated, abs=0.05)
    lowest, highest = EXPECTED.get(name, (0.0, 1.0))
    assert lowest <= result.dice <= highest, f"{name}: Dice {result.dice:.3f}"


def test_the_utransformer_reads_the_key_and_the_unet_does_not():
    """Objects beyond the U-Net's receptive-field radius: near chance for the U-Net, right for the U-Transformer."""
    task = RECIPES["striped_unet"].task
    ut = evaluate(load_pretrained(ASSETS, "striped_utransformer"), task, n_images=N_IMAGES)
    unet = evaluate(load_pretrained(ASSETS, "striped_unet"), task, n_images=N_IMAGES)
    far = unet.distances > RF_RADIUS
    assert far.sum() > 50
    assert unet.correct[far].mean() < 0.65
    assert ut.correct[far].mean() > 0.95


def test_the_mhsa_only_utransformer_looks_at_the_key():
    """Its bottleneck attention from target-blob pixels puts at least 5x uniform on the key (head mean), as stated."""
    name = "striped_utransformer_mhsa"
    mass = key_attention(load_pretrained(ASSETS, name), RECIPES[name].task)
    stated = load_checkpoint(checkpoint_path(ASSETS, name)).meta["key_attention"]
    assert mass.head_mean >= 5.0
    assert mass.head_mean == pytest.approx(stated["head_mean"], rel=1e-3)
    assert mass.best_head == pytest.approx(stated["best_head"], rel=1e-3)
