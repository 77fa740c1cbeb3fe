"""The segmentation lab's run: validated when it is made, and trained by the one engine on fresh slices."""

import numpy as np
import pytest
import torch

from models.core.engine import TrainConfig
from models.data.ct_slices import SegmentationTask
from models.labs.segmentation.spec import SegmentationRun, build_trainer, dice_per_image, soft_dice_loss


def test_a_run_feeds_the_engine_and_reports_dice():
    run = SegmentationRun(SegmentationTask(size=32), "unet", batch_size=2, train=TrainConfig(steps=2))
    trainer = build_trainer(run, "cpu")
    trainer.run()
    assert trainer.status == "finished" and np.isfinite(trainer.history["dice"]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "segformer"}, "architecture"),
        ({"depth": 5}, "depth"),
        ({"task": SegmentationTask(size=128), "depth": 1}, "bottleneck tokens"),
    ],
)
def test_a_run_that_cannot_work_is_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SegmentationRun(**kwargs)


def test_dice_against_its_closed_form_and_the_soft_loss_at_a_perfect_prediction():
    pred = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]]])
    masks = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 0]]])
    torch.testing.assert_close(dice_per_image(pred, masks), torch.tensor([2 * 1 / 3, 1.0]))
    perfect = torch.stack([1 - masks, masks], dim=1).float() * 50  # logits certain of the mask
    assert soft_dice_loss(perfect, masks).item() < 1e-6
