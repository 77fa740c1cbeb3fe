"""The attention lab: every default builds, token attributions are complete, the step-by-step view matches
the one attention, and the equivariance gap vanishes without a positional encoding."""

import numpy as np
import pytest
import torch

from models.blocks.attention import scaled_dot_product_attention
from models.data.tokens import ToyTask
from models.labs.attention.analysis import equivariance_gap, rotation, token_attribution
from models.labs.attention.spec import DEFAULTS, ModelConfig, build_model
from models.labs.attention.steps import parse_words, random_projections, self_attention_steps, word_embeddings


def test_every_default_has_a_model():
    for run in DEFAULTS.values():
        logits = build_model(run.task, run.model)(run.task.sample(0, torch.Generator())[0])
        assert logits.shape == (run.task.batch_size, run.task.length, run.task.n_classes)


def test_token_attribution_completeness():
    """IG over the token embeddings sums to f(e) - f(0) for the explained position and class."""
    torch.manual_seed(7)
    task = ToyTask("reverse")
    model = build_model(task).eval()
    tokens = task.sample(0, torch.Generator().manual_seed(0))[0][:1]
    scores = token_attribution(model, tokens, position=2, steps=64)
    with torch.no_grad():
        e = model.embed(tokens)
        logits = model.trace_embeddings(e).output[0, 2]
        target = int(logits.argmax())
        gap = (logits[target] - model.trace_embeddings(torch.zeros_like(e)).output[0, 2, target]).item()
    assert scores.shape == (8,)
    assert scores.sum() == pytest.approx(gap, abs=0.05 * max(1.0, abs(gap)))
    with pytest.raises(ValueError, match="position"):
        token_attribution(model, tokens, position=8)


def test_steps_match_the_one_attention_and_equal_words_give_equal_rows():
    words = parse_words("the cat sat on the mat")
    X = word_embeddings(words, 4)
    s = self_attention_steps(X, *random_projections(4, seed=0))
    Y, A = scaled_dot_product_attention(X @ s.W_q, X @ s.W_k, X @ s.W_v)
    torch.testing.assert_close(s.A, A)
    torch.testing.assert_close(s.Y, Y)
    assert s.A.shape == (6, 6) and torch.equal(s.A[0], s.A[4])  # "the" twice: equal rows without PE
    with_pe = self_attention_steps(word_embeddings(words, 4, positional=True), *random_projections(4, seed=0))
    assert not torch.allclose(with_pe.A[0], with_pe.A[4])


def test_equivariance_gap_vanishes_only_without_positional_encoding():
    task = ToyTask("reverse")
    tokens = task.parse(task.example())
    torch.manual_seed(0)
    without = build_model(task, ModelConfig(positional="none"))
    torch.manual_seed(0)
    with_pe = build_model(task, ModelConfig(positional="sinusoidal"))
    assert equivariance_gap(without, tokens, rotation(8, 3)) < 1e-5
    assert equivariance_gap(with_pe, tokens, rotation(8, 3)) > 1e-3
    with pytest.raises(ValueError, match="rotation"):
        rotation(8, 8)


def test_head_difference_is_zero_for_equal_heads_and_one_for_disjoint_ones():
    from models.labs.attention.analysis import head_difference

    equal = torch.eye(4).expand(2, 2, 4, 4)
    assert head_difference(equal) == 0
    disjoint = torch.stack([torch.eye(4), torch.eye(4).roll(1, dims=1)])[None]  # (1, 2, 4, 4)
    assert head_difference(disjoint) == pytest.approx(1.0)


def test_the_multi_head_view_concatenates_the_heads_and_mixes_them_with_w_o():
    from models.labs.attention.analysis import multi_head_view

    torch.manual_seed(3)
    task = ToyTask("reverse")
    model = build_model(task).eval()
    view = multi_head_view(model, task.parse(task.example()), layer=1)
    bias = model.encoder.blocks[1].attention.out_proj.bias.detach().numpy()
    assert view.attention.shape == (2, 8, 8) and view.head_outputs.shape == (2, 8, 16) and view.d_head == 16
    np.testing.assert_allclose(view.concatenated[:, :16], view.head_outputs[0], atol=1e-6)
    np.testing.assert_allclose(view.concatenated @ view.W_o + bias, view.output, atol=1e-5)


def test_the_multi_head_presets_pretrained_model_has_heads_that_visibly_differ():
    """The "multi-head attention" preset (the sort task) shows the layer whose heads differ most: on the shipped
    model its heads' attention rows are at least 0.3 apart in total variation (0: identical heads)."""
    from models.core.pretrain import ASSETS
    from models.labs.attention.analysis import head_differences
    from models.labs.attention.pretrain import checkpoint_path, load_pretrained

    run = load_pretrained(checkpoint_path(ASSETS, "sort"))
    assert max(head_differences(run.final, run.run.task)) >= 0.3
