"""Each pretrained default toy task reaches its stated accuracy within its step budget, and reverse fails
without a positional encoding."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.core.evaluation import accuracy
from models.labs.attention.spec import DEFAULTS, TARGET_ACCURACY, build_trainer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_default_task_reaches_target(name):
    run = DEFAULTS[name]
    trainer = build_trainer(run, device="cpu")
    trainer.run()
    assert trainer.status == "finished"
    score = accuracy(trainer.model, run.task.test_batches())
    assert score >= TARGET_ACCURACY[name], f"{name}: {score:.3f} after {run.train.steps} steps"


def test_reverse_fails_without_positional_encoding():
    run = DEFAULTS["reverse"]
    trainer = build_trainer(replace(run, model=replace(run.model, positional="none")), device="cpu")
    trainer.run()
    assert accuracy(trainer.model, run.task.test_batches()) < 0.5
