"""The segmentation lab's run: validated when it is made, and trained by the one engine on fresh images."""

import numpy as np
import pytest
import torch

from models.core.engine import TrainConfig
from models.labs.segmentation.spec import SegmentationRun, build_trainer, dice_per_image, soft_dice_loss
from models.labs.segmentation.tasks import LabTask


@pytest.mark.parametrize("architecture", ["unet", "setr", "glam_swin_unet"])
@pytest.mark.parametrize("kind", ["striped", "mri"])
def test_a_run_feeds_the_engine_and_reports_dice(architecture, kind):
    run = SegmentationRun(LabTask(kind, 32), architecture, batch_size=2, train=TrainConfig(steps=2))
    trainer = build_trainer(run, "cpu")
    trainer.run()
    assert trainer.status == "finished" and np.isfinite(trainer.history["dice"]).all()
    assert trainer.model(torch.zeros(1, 1, 32, 32)).shape == (1, run.task.num_classes, 32, 32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "segformer"}, "architecture"),
        ({"depth": 5}, "depth"),
        ({"depth": 1}, "bottleneck tokens"),  # 32x32 = 1024 tokens at 64 px
        ({"architecture": "setr", "decoder": "fpn"}, "decoder"),
        ({"batch_size": 0}, "batch size"),
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


def test_multiclass_dice_averages_the_foreground_classes():
    """Class 1: predicted 2 pixels, true 1, overlap 1 -> 2/3; class 2: exact -> 1; mean 5/6 (class 0 ignored)."""
    pred = torch.tensor([[[1, 1, 2, 0]]])
    masks = torch.tensor([[[1, 0, 2, 0]]])
    torch.testing.assert_close(dice_per_image(pred, masks, 3), torch.tensor([5 / 6]))
    logits = torch.nn.functional.one_hot(masks, 3).movedim(-1, 1).float() * 50
    assert soft_dice_loss(logits, masks).item() < 1e-6
