"""||dh_t/dh_k|| against autograd, the BPTT bound, regimes, and the gated cells' Jacobians."""

import numpy as np
import pytest
import torch

from models.blocks.recurrent import RecurrentNet
from models.labs.gradients import jacobians as g

TORCH_F = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def autograd_norms(W, U, b, x, nonlinearity, norm):
    """Reference: for each k, torch.autograd.functional.jacobian of h_k -> (h_k, ..., h_{T-1})."""
    f = TORCH_F[nonlinearity]
    _, states = g.rnn_states(W, U, b, x, nonlinearity=nonlinearity)
    T = x.shape[0]
    ref = torch.zeros(T, T, dtype=torch.float64)
    for k in range(T):

        def unroll(h, k=k):
            out = [h]
            for t in range(k + 1, T):
                h = f(U @ x[t] + W @ h + b)
                out.append(h)
            return torch.stack(out)

        J = torch.autograd.functional.jacobian(unroll, states[k])  # (T - k, H, H)
        ref[k:, k] = torch.linalg.matrix_norm(J, ord=2 if norm == "spectral" else "fro")
    return ref


@pytest.mark.parametrize("nonlinearity", g.NONLINEARITIES)
@pytest.mark.parametrize("norm", g.NORMS)
@pytest.mark.parametrize("scale", [0.7, 1.6])
def test_jacobian_norms_match_autograd(nonlinearity, norm, scale):
    W, U, b = g.make_weights(10, 3, scale, seed=3)
    b = b + 0.1
    x = g.random_inputs(14, 3, seed=2)
    N = g.jacobian_norms(W, U, b, x, nonlinearity=nonlinearity, norm=norm)
    ref = autograd_norms(W, U, b, x, nonlinearity, norm)
    assert N.shape == (14, 14)
    torch.testing.assert_close(N, ref, rtol=1e-5, atol=1e-12)
    assert (torch.triu(N, diagonal=1) == 0).all()
    identity = 1.0 if norm == "spectral" else 10**0.5
    torch.testing.assert_close(torch.diagonal(N), torch.full((14,), identity, dtype=torch.float64))


def test_initial_state_and_dtype():
    W, U, b = (t.float() for t in g.make_weights(6, 2, 1.2, seed=1))
    x = g.random_inputs(8, 2).float()
    h0 = torch.full((6,), 0.5)
    N = g.jacobian_norms(W, U, b, x, h0=h0)
    _, states = g.rnn_states(W, U, b, x, h0=h0)
    assert not torch.allclose(states, g.rnn_states(W, U, b, x)[1])
    ref = autograd_norms(W.double(), U.double(), b.double(), x.double(), "tanh", "spectral")
    assert not torch.allclose(N, ref)  # h0 changes f'(a_j), hence the norms
    assert N.dtype == torch.float64


@pytest.mark.parametrize("nonlinearity", g.NONLINEARITIES)
def test_norms_under_the_bptt_bound(nonlinearity):
    for scale in (0.5, 1.0, 1.5, 2.0):
        W, U, b = g.make_weights(16, 4, scale, init="orthogonal", seed=5)
        x = g.random_inputs(20, 4, seed=5)
        N = g.jacobian_norms(W, U, b, x, nonlinearity=nonlinearity)
        bound = g.bptt_bound(g.beta_w(W), g.BETA_H[nonlinearity], 20)
        assert (bound * (1 + 1e-6) >= N).all()


def test_bptt_bound_closed_form():
    B = g.bptt_bound(0.5, 1.0, 5)
    assert B[4, 1] == 0.5**3 and B[2, 2] == 1 and B[1, 3] == 0
    assert torch.allclose(B[3, :4], torch.tensor([0.125, 0.25, 0.5, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="sequence length"):
        g.bptt_bound(1.0, 1.0, 0)


@pytest.mark.parametrize("norm", g.NORMS)
def test_last_step_profile_is_last_row_and_strided_map_is_subset(norm):
    W, U, b = g.make_weights(12, 3, 1.3, seed=7)
    x = g.random_inputs(25, 3, seed=1)
    N = g.jacobian_norms(W, U, b, x, norm=norm).numpy()
    np.testing.assert_allclose(g.last_step_profile(W, U, b, x, norm=norm), N[-1], rtol=1e-5)
    coarse = g.jacobian_norm_map(W, U, b, x, norm=norm, k_stride=4)
    np.testing.assert_array_equal(coarse.ks, np.arange(0, 25, 4))
    np.testing.assert_allclose(coarse.norms, N[:, ::4], rtol=1e-5)
    assert not coarse.full


def test_regimes_vanish_and_explode():
    x = g.random_inputs(40, 4, seed=0)
    rates = {}
    for scale in (0.6, 1.0, 1.8):
        W, U, b = g.make_weights(32, 4, scale, init="orthogonal", seed=0)
        N = g.jacobian_norms(W, U * 0.01, b, x, nonlinearity="tanh")  # tiny input: tanh stays near-linear
        rates[scale] = g.growth_rate(*g.lag_profile(N.numpy()))
    assert g.regime(rates[0.6]) == "vanishing" and rates[0.6] == pytest.approx(0.6, rel=0.05)
    assert g.regime(rates[1.0]) == "edge"
    assert g.regime(rates[1.8]) == "exploding" and 1.1 < rates[1.8] < 1.8  # saturation of tanh tempers it


def test_overflow_is_inf_not_an_error():
    W, U, b = 10 * torch.eye(8, dtype=torch.float64), torch.zeros(8, 2, dtype=torch.float64), torch.ones(8)
    x = torch.zeros(400, 2, dtype=torch.float64)  # h_t = 10^t: norms 10^(t-k) overflow float64 at t - k > 308
    N = g.jacobian_norm_map(W, U, b, x, nonlinearity="relu", k_stride=100)
    assert np.isinf(N.norms).any() and not np.isnan(N.norms).any()
    assert N.norms[300, 0] == pytest.approx(1e300, rel=1e-6)


def test_bad_input_raises_value_errors():
    W, U, b = g.make_weights(4, 2, 1.0)
    x = g.random_inputs(5, 2)
    with pytest.raises(ValueError, match="nonlinearity"):
        g.jacobian_norms(W, U, b, x, nonlinearity="gelu")
    with pytest.raises(ValueError, match="norm"):
        g.jacobian_norms(W, U, b, x, norm="nuclear")
    with pytest.raises(ValueError, match="square"):
        g.jacobian_norms(W[:, :3], U, b, x)
    with pytest.raises(ValueError, match="U must have shape"):
        g.jacobian_norms(W, U[:, :1], b, x)
    with pytest.raises(ValueError, match="sequence length"):
        g.jacobian_norms(W, U, b, torch.zeros(0, 2))
    with pytest.raises(ValueError, match="scale"):
        g.make_weights(4, 2, 0.0)
    with pytest.raises(ValueError, match="hidden size"):
        g.make_weights(0, 2, 1.0)


def test_weights_scaling():
    W, _, _ = g.make_weights(20, 3, 1.5, scaling="singular")
    assert g.beta_w(W) == pytest.approx(1.5)
    W, _, _ = g.make_weights(20, 3, 0.8, scaling="radius", init="orthogonal")
    assert np.abs(g.eigenvalues(W)).max() == pytest.approx(0.8)
    assert g.beta_w(W) == pytest.approx(0.8)  # orthogonal: every singular value equals the radius


def test_plan_map_keeps_reference_full_and_coarsens_large():
    assert g.plan_map(100, 64) == 1
    assert g.plan_map(200, 128) > 1
    assert g.plan_map(200, 128, norm="frobenius") < g.plan_map(200, 128)
    assert g.plan_map(10, 8) == 1


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_gated_profile_matches_autograd_through_torchs_own_module(kind):
    """||ds_{T-1}/ds_k|| against autograd through torch's fused nn.RNN/LSTM/GRU holding the same weights."""
    torch.manual_seed(0)
    net = RecurrentNet(kind, 3, 5)
    rnn = net.rnn.double()
    x = torch.randn(9, 3, dtype=torch.float64)
    profile = g.gated_profile(net, x)
    T = 9
    for k in (0, 4, 8):
        _, state = rnn(x[None, : k + 1])  # the state after step k

        def unroll(h, c=None, k=k):
            state = (h[None, None], c[None, None]) if kind == "lstm" else h[None, None]
            _, state = rnn(x[None, k + 1 :], state) if k + 1 < T else (None, state)
            return torch.cat([state[0][0, 0], state[1][0, 0]]) if kind == "lstm" else state.reshape(-1)

        if kind == "lstm":
            s_k = torch.cat([state[0][0, 0], state[1][0, 0]])
            J = torch.autograd.functional.jacobian(lambda s: unroll(s[:5], s[5:]), s_k)
            dh, dC = J[:5, :5], J[5:, 5:]
            assert profile.dC[k] == pytest.approx(float(torch.linalg.matrix_norm(dC, ord=2)), rel=1e-5)
        else:
            dh = torch.autograd.functional.jacobian(unroll, state[0, 0])
        assert profile.dh[k] == pytest.approx(float(torch.linalg.matrix_norm(dh, ord=2)), rel=1e-5)
    if kind == "lstm":
        assert profile.forget_path[-1] == 1 and (np.diff(profile.forget_path) >= 0).all()
    else:
        assert profile.dC is None


def test_analyse_gathers_the_view_and_names_the_regime():
    view = g.analyse(16, 30, 0.6, "singular", "orthogonal", "tanh", "spectral", 0)
    assert view.norms.shape == (30, 30) and view.stride == 1
    assert view.beta_w == pytest.approx(0.6) and view.bound_rate == pytest.approx(0.6)
    assert view.regime == "vanishing" and view.rate < 0.6 + 1e-6
