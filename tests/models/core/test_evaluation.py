"""The classification step and evaluation written once: against torch's cross-entropy, ignored targets, the
model's mode restored, regression scored within a tolerance."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.core.evaluation import (
    IGNORE_INDEX,
    accuracy,
    classification_output,
    classification_step,
    inference,
    regression_output,
    within_tolerance,
)


def test_classification_output_matches_torch_and_skips_ignored_targets():
    torch.manual_seed(0)
    logits = torch.randn(4, 5, 3)  # (B, T, C)
    targets = torch.randint(3, (4, 5))
    targets[:, :2] = IGNORE_INDEX
    output = classification_output(logits, targets)
    scored = targets != IGNORE_INDEX
    torch.testing.assert_close(output.loss, F.cross_entropy(logits[scored], targets[scored]))
    expected = (logits.argmax(-1)[scored] == targets[scored]).float().mean()
    torch.testing.assert_close(output.metrics["accuracy"], expected)


def test_classification_step_calls_the_model_on_every_input_but_the_last():
    seen = []

    class TwoInputs(nn.Module):
        def forward(self, x, lengths):
            seen.append(lengths.tolist())
            return x

    x, lengths, y = torch.eye(3)[[0, 1, 2, 2]], torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1, 2, 0])
    output = classification_step(TwoInputs(), (x, lengths, y), None)
    assert seen == [[1, 2, 3, 4]] and output.metrics["accuracy"] == pytest.approx(0.75)


def test_regression_output_counts_predictions_within_the_tolerance():
    prediction, targets = torch.tensor([0.0, 0.05, 0.5]), torch.zeros(3)
    output = regression_output(prediction, targets, tolerance=0.1)
    assert output.metrics["accuracy"] == pytest.approx(2 / 3)
    torch.testing.assert_close(output.loss, F.mse_loss(prediction, targets))


@pytest.mark.parametrize("training", [True, False])
def test_inference_restores_the_models_mode_and_records_no_graph(training):
    model = nn.Dropout(0.5).train(training)
    with inference(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training == training


def test_accuracy_and_within_tolerance_over_batches():
    model = nn.Identity()
    batches = [(torch.eye(3), torch.tensor([0, 1, 0])), (torch.eye(2), torch.tensor([IGNORE_INDEX, 1]))]
    assert accuracy(model, batches) == pytest.approx(3 / 4)
    assert within_tolerance(model, [(torch.tensor([0.0, 1.0]), torch.tensor([0.05, 0.0]))], 0.1) == 0.5
