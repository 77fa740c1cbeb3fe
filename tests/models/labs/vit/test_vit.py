"""The ViT lab's model: patches and shapes, its trace, and Integrated Gradients' completeness."""

from dataclasses import replace

import pytest
import torch

from models.blocks.patches import patchify
from models.core.pretrain import ASSETS
from models.labs.vit.analysis import explain, integrated_gradients
from models.labs.vit.model import ViT, ViTConfig
from models.labs.vit.pretrain import TARGET_TEST_ACCURACY, checkpoint_path, held_out_accuracy, load_pretrained
from models.labs.vit.spec import ViTRun, build_trainer


def test_patchify_and_vit_shapes():
    images = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4, 4)
    assert patches[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]  # top-right patch, row by row
    with pytest.raises(ValueError, match="must divide"):
        patchify(images, 3)
    with pytest.raises(ValueError, match="patch size"):
        ViTConfig(patch_size=3)
    model = ViT(ViTConfig())
    trace = model.trace(torch.rand(3, 8, 8))
    assert trace.output.shape == (3, 10)
    assert trace.cls_attention().shape == (2, 3, 4, 16)
    assert torch.allclose(trace.cls_rollout().sum(-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match="8x8"):
        model(torch.rand(1, 16, 16))


def test_integrated_gradients_completeness():
    """IG's attributions sum to f(x) - f(baseline) for the explained class (completeness axiom)."""
    torch.manual_seed(6)
    model = ViT().eval()
    image = torch.rand(8, 8)
    attribution = integrated_gradients(model, image, target=3, steps=64)
    with torch.no_grad():
        gap = (model(image[None])[0, 3] - model(torch.zeros(1, 8, 8))[0, 3]).item()
    assert attribution.shape == (8, 8)
    assert attribution.sum() == pytest.approx(gap, abs=0.05 * max(1.0, abs(gap)))


@pytest.mark.slow
def test_vit_reaches_target_on_held_out_digits():
    trainer = build_trainer(ViTRun(train=replace(ViTRun().train, steps=400)), device="cpu")
    trainer.run()
    assert held_out_accuracy(trainer.model) >= TARGET_TEST_ACCURACY


def test_the_pretrained_vit_scores_as_stated():
    model, meta = load_pretrained(checkpoint_path(ASSETS))
    assert held_out_accuracy(model) == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert meta["test_accuracy"] >= TARGET_TEST_ACCURACY


def test_explain_gives_attention_rollout_and_attribution_on_the_patch_grid():
    torch.manual_seed(1)
    model = ViT().eval()
    result = explain(model, torch.rand(8, 8), ig_steps=8)
    assert result.cls_attention.shape == (2, 4, 4, 4) and result.rollout.shape == (4, 4)
    assert result.attribution.shape == (8, 8) and result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.rollout.sum() == pytest.approx(1.0, abs=1e-5)
