"""The committed checkpoints load with weights_only=True and score as the lab states (32 fixed slices)."""

import pytest
import torch

from models.checkpoint import load_checkpoint
from models.pretrain import ASSETS, RECIPES
from models.segmentation import UTransformer
from models.segmentation_data import SegmentationTask
from models.segmentation_task import PRETRAINED, checkpoint_path, evaluate, load_pretrained

N_IMAGES = 32
EXPECTED = {  # (task, model): (lowest, highest) Dice
    ("key", "U-Transformer"): (0.95, 1.0),
    ("key", "U-Net"): (0.0, 0.70),
    ("local", "U-Net"): (0.95, 1.0),
    ("local", "U-Transformer"): (0.95, 1.0),
}


def test_recipe_is_registered_for_make_pretrain():
    assert RECIPES["segmentation"] == "models.segmentation_task:pretrain"


@pytest.mark.parametrize("name", [name for models in PRETRAINED.values() for name in models.values()])
def test_checkpoints_load_with_weights_only_and_are_small(name):
    path = checkpoint_path(ASSETS, name)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["config"]["architecture"] in ("unet", "attention_unet", "utransformer")
    assert path.stat().st_size < 800_000
    checkpoint = load_checkpoint(path)
    assert checkpoint.meta["recipe"]["steps"] == checkpoint.meta["steps"]


@pytest.mark.parametrize(("task", "label"), list(EXPECTED))
def test_pretrained_models_score_as_stated(task, label):
    model = load_pretrained(ASSETS, PRETRAINED[task][label])
    lowest, highest = EXPECTED[(task, label)]
    result = evaluate(model, SegmentationTask(task), n_images=N_IMAGES)
    assert lowest <= result.dice <= highest, f"{task} {label}: Dice {result.dice:.3f}"


def test_the_utransformer_reads_the_key_and_the_unet_does_not():
    """Objects beyond the U-Net's receptive-field radius: near chance for the U-Net, right for the U-Transformer."""
    task = SegmentationTask("key")
    ut = evaluate(load_pretrained(ASSETS, "key_utransformer"), task, n_images=N_IMAGES)
    unet = evaluate(load_pretrained(ASSETS, "key_unet"), task, n_images=N_IMAGES)
    far = unet.distances > UTransformer().receptive_field / 2
    assert far.sum() > 50
    assert unet.correct[far].mean() < 0.65
    assert ut.correct[far].mean() > 0.95
