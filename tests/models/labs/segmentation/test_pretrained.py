"""The committed checkpoints load with weights_only=True and score as the lab states (32 fixed slices)."""

import pytest
import torch

from models.core.checkpoint import load_checkpoint
from models.core.pretrain import ASSETS
from models.data.ct_slices import SegmentationTask
from models.labs.segmentation.analysis import evaluate
from models.labs.segmentation.models import ARCHITECTURES, UTransformer
from models.labs.segmentation.pretrain import RECIPES, checkpoint_path, load_pretrained, pretrained_names

N_IMAGES = 32
EXPECTED = {  # (task, model): (lowest, highest) Dice
    ("key", "U-Transformer"): (0.95, 1.0),
    ("key", "U-Net"): (0.0, 0.70),
    ("local", "U-Net"): (0.95, 1.0),
    ("local", "U-Transformer"): (0.95, 1.0),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_checkpoints_load_with_weights_only_and_are_small(name):
    path = checkpoint_path(ASSETS, name)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["config"]["architecture"] in ARCHITECTURES
    assert path.stat().st_size < 800_000
    assert load_checkpoint(path).meta["steps"] == RECIPES[name].train.steps


@pytest.mark.parametrize(("task", "label"), list(EXPECTED))
def test_pretrained_models_score_as_stated(task, label):
    name = pretrained_names(task)[label]
    model = load_pretrained(ASSETS, name)
    lowest, highest = EXPECTED[(task, label)]
    result = evaluate(model, SegmentationTask(task), n_images=N_IMAGES)
    assert lowest <= result.dice <= highest, f"{task} {label}: Dice {result.dice:.3f}"
    stated = load_checkpoint(checkpoint_path(ASSETS, name)).meta["validation_dice"]  # on 200 slices
    assert result.dice == pytest.approx(stated, abs=0.05)


def test_the_utransformer_reads_the_key_and_the_unet_does_not():
    """Objects beyond the U-Net's receptive-field radius: near chance for the U-Net, right for the U-Transformer."""
    task = SegmentationTask("key")
    ut = evaluate(load_pretrained(ASSETS, "key_utransformer"), task, n_images=N_IMAGES)
    unet = evaluate(load_pretrained(ASSETS, "key_unet"), task, n_images=N_IMAGES)
    far = unet.distances > UTransformer().receptive_field / 2
    assert far.sum() > 50
    assert unet.correct[far].mean() < 0.65
    assert ut.correct[far].mean() > 0.95
