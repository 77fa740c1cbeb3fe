"""Each pretrained default toy task reaches its stated accuracy within its step budget; the ViT too."""

from __future__ import annotations

import pytest
import torch

from models import attention_tasks as tasks
from models import vit

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(tasks.DEFAULTS))
def test_default_task_reaches_target(name):
    recipe = tasks.DEFAULTS[name]
    trainer = tasks.trainer_for(recipe, device="cpu")
    trainer.run()
    assert trainer.status == "finished"
    accuracy = tasks.evaluate(trainer.model, recipe.task)
    assert accuracy >= recipe.target_accuracy, (
        f"{name}: {accuracy:.3f} < {recipe.target_accuracy} after {recipe.steps} steps"
    )


def test_reverse_fails_without_positional_encoding():
    recipe = tasks.DEFAULTS["reverse"]
    no_pe = tasks.Recipe(recipe.task, tasks.ModelConfig(positional="none"), recipe.lr, recipe.steps, 0.0)
    trainer = tasks.trainer_for(no_pe, device="cpu")
    trainer.run()
    assert tasks.evaluate(trainer.model, recipe.task) < 0.5


def test_vit_reaches_target_on_held_out_digits():
    torch.manual_seed(0)
    trainer = vit.vit_trainer(steps=400, device="cpu")
    trainer.run()
    assert vit.test_accuracy(trainer.model) >= vit.TARGET_TEST_ACCURACY
