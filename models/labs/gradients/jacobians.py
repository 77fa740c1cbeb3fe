"""Vanishing and exploding gradients through time: ||dh_t/dh_k||, its bound, and the gated paths.

Lecture ("BPTT: gradient computation", "exploding and vanishing gradients"): for the vanilla cell
h_t = f(U x_t + W h_{t-1} + b) the chain rule gives

    dh_t/dh_k = prod_{j=k+1}^{t} dh_j/dh_{j-1},   dh_j/dh_{j-1} = diag(f'(a_j)) W,   a_j = U x_j + W h_{j-1} + b

and ||dh_t/dh_k|| <= (beta_w beta_h)^(t-k), beta_w = ||W||_2 (largest singular value), beta_h = sup |f'|.
The slide writes the per-step Jacobian as W^T diag[f'(h_{j-1})]: that is the transpose of the exact
form above (the slide lays the Jacobian out as a gradient, denominator layout; transposes have the same
spectral and Frobenius norms) with f' evaluated at step j's pre-activation a_j, written as h_{j-1}.

Time steps are indexed 0..T-1: ``N[t, k] = ||dh_t/dh_k||`` for the hidden states the cell produced at
steps t and k (h_{-1} = h0 is the initial state).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from models.blocks.recurrent import ACTIVATIONS, RecurrentNet, rnn_cell

NONLINEARITIES = tuple(ACTIVATIONS)
NORMS = ("spectral", "frobenius")
BETA_H = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0}
MAX_LENGTH = 1000
MAX_HIDDEN = 512
REGIME_TOLERANCE = 0.02


# --- the vanilla cell ----------------------------------------------------------------------------


def _check_cell(W, U, b, x, h0) -> None:
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square (H, H) matrix, got shape {tuple(W.shape)}")
    H = W.shape[0]
    if not 1 <= H <= MAX_HIDDEN:
        raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {H}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T, d), got {tuple(x.shape)}")
    if not 1 <= x.shape[0] <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between 1 and {MAX_LENGTH}, got {x.shape[0]}")
    if U.shape != (H, x.shape[1]):
        raise ValueError(f"U must have shape (H, d) = ({H}, {x.shape[1]}), got {tuple(U.shape)}")
    if b.shape != (H,):
        raise ValueError(f"b must have shape (H,) = ({H},), got {tuple(b.shape)}")
    if h0 is not None and h0.shape != (H,):
        raise ValueError(f"h0 must have shape (H,) = ({H},), got {tuple(h0.shape)}")


def rnn_states(W, U, b, x, h0=None, nonlinearity: str = "tanh") -> tuple[torch.Tensor, torch.Tensor]:
    """Run h_t = f(U x_t + W h_{t-1} + b) in float64; returns (pre-activations a, states h), both (T, H)."""
    _check_cell(W, U, b, x, h0)
    W, U, b, x = (t.detach().to(torch.float64) for t in (W, U, b, x))
    h = torch.zeros(W.shape[0], dtype=torch.float64) if h0 is None else h0.detach().to(torch.float64)
    drive = x @ U.T + b  # (T, H)
    pre, states = [], []
    for t in range(x.shape[0]):
        h_proj = W @ h
        pre.append(drive[t] + h_proj)
        h = rnn_cell(drive[t], h_proj, nonlinearity)
        states.append(h)
    return torch.stack(pre), torch.stack(states)


def step_derivatives(W, U, b, x, h0=None, nonlinearity: str = "tanh") -> torch.Tensor:
    """f'(a_j) for every step j, shape (T, H): the diagonal of each per-step Jacobian diag(f'(a_j)) W."""
    pre, _ = rnn_states(W, U, b, x, h0, nonlinearity)
    return ACTIVATIONS[nonlinearity][1](pre)


# --- norms of batches of matrices ----------------------------------------------------------------


def matrix_norms(M: torch.Tensor, norm: str = "spectral") -> torch.Tensor:
    """Spectral or Frobenius norms of a batch (..., H, H), as float64; inf where an entry is not finite.

    The spectral norm is ||M||_F sqrt(lambda_max(Q Q^T)) with Q = M / ||M||_F, solved in float32: a symmetric
    eigenproblem is much cheaper than an SVD, and after the rescaling float32 loses nothing that matters.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    M = M.to(torch.float64)
    frob = torch.linalg.matrix_norm(M, ord="fro")
    big = torch.isinf(frob)
    if big.any():  # where every entry is finite the squares overflowed: rescale by the largest entry first
        big &= torch.isfinite(M).flatten(start_dim=-2).all(dim=-1)
        peak = M[big].abs().amax(dim=(-2, -1))
        frob[big] = peak * torch.linalg.matrix_norm(M[big] / peak[:, None, None], ord="fro")
    finite = torch.isfinite(frob)
    result = torch.where(finite, frob, torch.full_like(frob, math.inf))
    ok = finite & (frob > 0)
    if norm == "frobenius" or not ok.any():
        return result
    if not ok.all():
        M = M[ok]
    scale = frob[ok]
    gram = torch.empty(len(M), M.shape[-1], M.shape[-1], dtype=torch.float32)
    for i in range(0, len(M), 256):  # cache-sized chunks
        unit = (M[i : i + 256] / scale[i : i + 256, None, None]).to(torch.float32)
        unit.masked_fill_(unit.abs() < 1e-30, 0)  # no float32 denormals for LAPACK
        torch.matmul(unit, unit.mT, out=gram[i : i + 256])
    try:
        lam = torch.linalg.eigvalsh(gram)[..., -1].to(torch.float64)
    except torch.linalg.LinAlgError:
        lam = torch.linalg.svdvals(M / scale[:, None, None])[..., 0] ** 2
    result[ok] = scale * lam.clamp_min(0).sqrt()
    return result


def _identity_norm(H: int, norm: str) -> float:
    return 1.0 if norm == "spectral" else math.sqrt(H)


# --- the (T, T) map and the last-step profile ----------------------------------------------------


_NORM_BATCH = 2048 * 64 * 64  # entries per batched eigen-solve: large batches amortise LAPACK's per-call cost


@dataclass
class JacobianMap:
    """||dh_t/dh_k|| for every t and the k in ``ks``: ``norms[t, i]`` for k = ks[i] (0 where t < k)."""

    norms: np.ndarray  # (T, K)
    ks: np.ndarray  # (K,)
    norm: str
    k_stride: int

    @property
    def full(self) -> bool:
        return self.k_stride == 1


def jacobian_norm_map(
    W, U, b, x, h0=None, nonlinearity: str = "tanh", norm: str = "spectral", k_stride: int = 1
) -> JacobianMap:
    """||prod_{j=k+1}^t diag(f'(a_j)) W|| for all t and every ``k_stride``-th k (lecture: BPTT Jacobian).

    The products for all k are accumulated together, one step at a time: P_{t,k} = diag(f'(a_t)) W P_{t-1,k},
    batched over k in float64, and each step's batch of norms is taken at once.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if k_stride < 1:
        raise ValueError(f"k stride must be at least 1, got {k_stride}")
    d = step_derivatives(W, U, b, x, h0, nonlinearity)  # (T, H)
    W = W.detach().to(torch.float64)
    T, H = d.shape
    ks = np.arange(0, T, k_stride)
    # P holds dh_t/dh_k for every started k side by side, (H, K*H), so each step is one GEMM (into Q, then swap).
    P, Q = torch.zeros(H, len(ks) * H, dtype=torch.float64), torch.zeros(H, len(ks) * H, dtype=torch.float64)
    buffer = torch.empty(max(_NORM_BATCH // (H * H), len(ks)), H, H, dtype=torch.float64)  # products awaiting norms
    filled, rows = 0, []
    norms = torch.zeros(T, len(ks), dtype=torch.float64)
    for t in range(T):
        width = H * len(range(0, t, k_stride))
        torch.mm(W, P[:, :width], out=Q[:, :width])
        Q[:, :width].mul_(d[t, :, None])
        P, Q = Q, P
        if t % k_stride == 0:
            P[:, width : width + H] = torch.eye(H, dtype=torch.float64)
            width += H
        count = width // H
        if filled + count > len(buffer):
            filled, rows = _flush(buffer, filled, rows, norms, norm)
        buffer[filled : filled + count] = P[:, :width].reshape(H, count, H).transpose(0, 1)
        filled += count
        rows.append((t, count))
    _flush(buffer, filled, rows, norms, norm)
    norms[ks, np.arange(len(ks))] = _identity_norm(H, norm)  # dh_k/dh_k = I exactly
    return JacobianMap(norms=norms.numpy(), ks=ks, norm=norm, k_stride=k_stride)


def _flush(buffer, filled, rows, norms, norm):
    """Norms of the buffered products, written to their rows of ``norms``; returns an empty buffer state."""
    flat = matrix_norms(buffer[:filled], norm)
    start = 0
    for t, count in rows:
        norms[t, :count] = flat[start : start + count]
        start += count
    return 0, []


def jacobian_norms(W, U, b, x, h0=None, nonlinearity: str = "tanh", norm: str = "spectral") -> torch.Tensor:
    """N (T, T) with N[t, k] = ||dh_t/dh_k|| for k <= t (||I|| on the diagonal), 0 above it."""
    return torch.from_numpy(jacobian_norm_map(W, U, b, x, h0, nonlinearity, norm).norms)


def last_step_profile(W, U, b, x, h0=None, nonlinearity: str = "tanh", norm: str = "spectral") -> np.ndarray:
    """||dh_{T-1}/dh_k|| for k = 0..T-1, accumulated backwards: R_k = R_{k+1} diag(f'(a_{k+1})) W."""
    d = step_derivatives(W, U, b, x, h0, nonlinearity)  # (T, H)
    W = W.detach().to(torch.float64)
    T, H = d.shape
    R = torch.empty(T, H, H, dtype=torch.float64)
    R[T - 1] = torch.eye(H, dtype=torch.float64)
    for k in range(T - 2, -1, -1):
        R[k] = (R[k + 1] * d[k + 1]) @ W
    norms = matrix_norms(R, norm).numpy()
    norms[-1] = _identity_norm(H, norm)
    return norms


def bptt_bound(beta_w: float, beta_h: float, T: int) -> torch.Tensor:
    """(T, T) bound (beta_w beta_h)^(t-k) for k <= t, 0 above (lecture: exploding/vanishing slide)."""
    if not 1 <= T <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between 1 and {MAX_LENGTH}, got {T}")
    if not (math.isfinite(beta_w) and beta_w >= 0 and math.isfinite(beta_h) and beta_h >= 0):
        raise ValueError(f"beta_w and beta_h must be finite and >= 0, got {beta_w} and {beta_h}")
    lag = torch.arange(T)[:, None] - torch.arange(T)[None, :]  # (T, T): t - k
    bound = torch.tensor(beta_w * beta_h, dtype=torch.float64) ** lag.clamp_min(0).to(torch.float64)
    return torch.where(lag >= 0, bound, torch.zeros((), dtype=torch.float64))


def beta_w(W: torch.Tensor) -> float:
    """Largest singular value of W."""
    return float(torch.linalg.matrix_norm(W.detach().to(torch.float64), ord=2))


# --- regimes -------------------------------------------------------------------------------------


def lag_profile(norms: np.ndarray, ks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lags, geometric mean of ||dh_t/dh_k|| over the pairs with t - k = lag); inf stays inf."""
    T, K = norms.shape
    ks = np.arange(K) if ks is None else np.asarray(ks)
    lag = np.arange(T)[:, None] - ks[None, :]  # (T, K)
    lags = np.arange(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(norms)
        means = np.array([np.mean(logs[lag == L]) if (lag == L).any() else np.nan for L in lags])
    return lags, np.exp(means)


def growth_rate(lags: np.ndarray, profile: np.ndarray) -> float:
    """Per-step factor r with ||dh_t/dh_k|| ~ r^(t-k): exp of the least-squares slope of log norm on lag."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(profile)
    keep = np.isfinite(logs)
    if keep.sum() < 2:
        return math.inf if np.isinf(profile).any() else 0.0 if (profile == 0).any() else 1.0
    slope = np.polyfit(lags[keep], logs[keep], 1)[0]
    return float(np.exp(slope))


def regime(rate: float, tolerance: float = REGIME_TOLERANCE) -> str:
    """ "vanishing" (r < 1), "exploding" (r > 1) or "edge" (within ``tolerance`` of 1)."""
    if rate < 1 - tolerance:
        return "vanishing"
    if rate > 1 + tolerance:
        return "exploding"
    return "edge"


# --- weights the page can dial -------------------------------------------------------------------

INITS = ("gaussian", "orthogonal")
SCALINGS = ("singular", "radius")
MAX_SCALE = 10.0


def make_weights(
    hidden: int, inputs: int, scale: float, init: str = "gaussian", scaling: str = "singular", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W, U, b) for the vanilla cell; W rescaled so its largest singular value (or spectral radius) is ``scale``."""
    if not 1 <= hidden <= MAX_HIDDEN:
        raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {hidden}")
    if not 1 <= inputs <= MAX_HIDDEN:
        raise ValueError(f"input size must be between 1 and {MAX_HIDDEN}, got {inputs}")
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError(f"the scale of W must be in (0, {MAX_SCALE}], got {scale}")
    if init not in INITS:
        raise ValueError(f"initialisation must be one of {INITS}, got {init!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    generator = torch.Generator().manual_seed(seed)
    W = torch.randn(hidden, hidden, generator=generator, dtype=torch.float64)
    if init == "orthogonal":
        W = torch.linalg.qr(W).Q
    current = beta_w(W) if scaling == "singular" else float(torch.linalg.eigvals(W).abs().max())
    W = W * (scale / current)
    U = torch.randn(hidden, inputs, generator=generator, dtype=torch.float64) / math.sqrt(inputs)
    b = torch.zeros(hidden, dtype=torch.float64)
    return W, U, b


def random_inputs(length: int, inputs: int, seed: int = 0) -> torch.Tensor:
    """x (T, d) with i.i.d. standard normal entries."""
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between 1 and {MAX_LENGTH}, got {length}")
    return torch.randn(length, inputs, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)


def eigenvalues(W: torch.Tensor) -> np.ndarray:
    """Complex eigenvalues of W."""
    return torch.linalg.eigvals(W.detach().to(torch.float64)).numpy()


# --- how much of the map fits the page's time budget ---------------------------------------------

# Cost of the reference size (T = 100, H = 64, spectral, every k) in units of H^3 per (t, k) pair;
# calibrated by bench/bench_gradients.py to run in well under a second on 2 CPU cores.
MAP_BUDGET = 100 * 101 / 2 * 64**3
SPECTRAL_COST = 3.0  # an eigen-solve per pair costs about twice the product that makes it


def plan_map(T: int, H: int, norm: str = "spectral", budget: float = MAP_BUDGET) -> int:
    """The smallest k stride whose map of ``norm`` fits ``budget`` (the page's interactivity budget)."""
    per_pair = H**3 * (SPECTRAL_COST if norm == "spectral" else 1.0)
    for stride in range(1, T + 1):
        pairs = sum(T - k for k in range(0, T, stride))
        if pairs * per_pair <= budget * SPECTRAL_COST:
            return stride
    return T


# --- LSTM and GRU: the gated paths ---------------------------------------------------------------


@dataclass
class GatedProfile:
    """Norms of the last step's Jacobians w.r.t. every earlier step k (index k = 0..T-1).

    ``dh``: ||dh_{T-1}/dh_k||; ``dC``: ||dC_{T-1}/dC_k|| (LSTM only); ``forget_path``: the norm of the
    direct cell path prod_{j=k+1}^{T-1} diag(f_j) (LSTM only), the "uninterrupted gradient flow".
    """

    cell: str
    dh: np.ndarray
    dC: np.ndarray | None = None
    forget_path: np.ndarray | None = None


def gated_profile(net: RecurrentNet, x: torch.Tensor, norm: str = "spectral") -> GatedProfile:
    """The last-step profiles of layer 0 of ``net`` on one sequence x (T, d): how far back gradients reach.

    The states s_j (h_j, or [h_j ; C_j] for an LSTM) come from the net's step-by-step trace in float64; the
    per-step Jacobians ds_j/ds_{j-1} from autograd on the same cell (vmapped over j), multiplied backwards
    from the last step; dh and dC are the h and C blocks of the product.
    """
    if x.ndim != 2 or x.shape[1] != net.input_size:
        raise ValueError(f"x must have shape (T, {net.input_size}), got {tuple(x.shape)}")
    if not 1 <= x.shape[0] <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between 1 and {MAX_LENGTH}, got {x.shape[0]}")
    x = x.detach().double()
    with torch.no_grad():
        trace = copy.deepcopy(net).double().trace(x[None])
    T, H = x.shape[0], net.hidden_size
    h = trace.hidden[0][0, :, 0]  # (T, H)
    states = torch.cat([h, trace.cell[0][0, :, 0]], dim=1) if net.cell == "lstm" else h  # (T, S)
    previous = torch.cat([torch.zeros_like(states[:1]), states[:-1]])  # s_{j-1}, with s_{-1} = 0
    jac = torch.func.vmap(torch.func.jacrev(net.state_function(), argnums=1))(x, previous)  # (T, S, S)
    S = jac.shape[-1]
    R = torch.empty(T, S, S, dtype=torch.float64)
    R[T - 1] = torch.eye(S, dtype=torch.float64)
    for k in range(T - 2, -1, -1):
        R[k] = R[k + 1] @ jac[k + 1]
    dh = matrix_norms(R[:, :H, :H], norm).numpy()
    if net.cell != "lstm":
        return GatedProfile(cell=net.cell, dh=dh)
    forget = trace.gates[0]["forget"][0, :, 0]  # (T, H): f_j
    suffix = torch.ones(T, H, dtype=torch.float64)  # prod_{j=k+1}^{T-1} f_j
    for k in range(T - 2, -1, -1):
        suffix[k] = suffix[k + 1] * forget[k + 1]
    path = suffix.abs().amax(dim=1) if norm == "spectral" else suffix.norm(dim=1)
    return GatedProfile(cell=net.cell, dh=dh, dC=matrix_norms(R[:, H:, H:], norm).numpy(), forget_path=path.numpy())


@dataclass
class JacobianAnalysis:
    """The analysis view for one setting: the (T, K) map of norms at the k in ``ks`` (every ``stride``-th),
    the mean decay against the lag and its per-step rate, the last step's profile, W's spectrum and the bound."""

    norms: np.ndarray
    ks: np.ndarray
    stride: int
    lags: np.ndarray
    profile: np.ndarray
    last: np.ndarray
    rate: float
    beta_w: float
    beta_h: float
    eigenvalues: np.ndarray
    bound_ratio: float  # the largest ||dh_t/dh_k|| / (beta_w beta_h)^(t-k) over the map's pairs

    @property
    def regime(self) -> str:
        """Named from the measured rate, never from the bound."""
        return regime(self.rate)

    @property
    def bound_rate(self) -> float:
        return self.beta_w * self.beta_h

    @property
    def bound_proves_vanishing(self) -> bool:
        """The bound is an upper bound: below 1 it proves the gradient vanishes; above 1 it proves nothing."""
        return self.bound_rate < 1


def analyse(
    hidden: int, length: int, scale: float, scaling: str, init: str, nonlinearity: str, norm: str, seed: int
) -> JacobianAnalysis:
    """A vanilla cell with W scaled as asked, run on random inputs: everything the Jacobian view shows."""
    W, U, b = make_weights(hidden, 4, scale, init=init, scaling=scaling, seed=seed)
    x = random_inputs(length, 4, seed=seed)
    stride = plan_map(length, hidden, norm)
    jmap = jacobian_norm_map(W, U, b, x, nonlinearity=nonlinearity, norm=norm, k_stride=stride)
    lags, profile = lag_profile(jmap.norms, jmap.ks)
    bw = beta_w(W)
    bound = bptt_bound(bw, BETA_H[nonlinearity], length).numpy()[:, jmap.ks]  # (T, K)
    pairs = (bound > 0) & np.isfinite(jmap.norms) & np.isfinite(bound)
    return JacobianAnalysis(
        norms=jmap.norms,
        ks=jmap.ks,
        stride=stride,
        lags=lags,
        profile=profile,
        last=last_step_profile(W, U, b, x, nonlinearity=nonlinearity, norm=norm),
        rate=growth_rate(lags, profile),
        beta_w=bw,
        beta_h=BETA_H[nonlinearity],
        eigenvalues=eigenvalues(W),
        bound_ratio=float((jmap.norms[pairs] / bound[pairs]).max()),
    )


COUNTEREXAMPLE = ((0.5, 3.0), (0.0, 0.5))


def eigenvalue_counterexample(power: int = 3) -> dict[str, float]:
    """Why the bound needs the largest singular value, not the largest eigenvalue (as the slide writes):
    W = [[0.5, 3], [0, 0.5]] has spectral radius 0.5, yet ||W^power||_2 is far above 0.5^power."""
    W = torch.tensor(COUNTEREXAMPLE, dtype=torch.float64)
    return {
        "radius": float(torch.linalg.eigvals(W).abs().max()),
        "beta_w": beta_w(W),
        "power": power,
        "radius_power": float(torch.linalg.eigvals(W).abs().max()) ** power,
        "norm_of_power": float(torch.linalg.matrix_norm(torch.linalg.matrix_power(W, power), ord=2)),
    }
