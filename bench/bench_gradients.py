"""Gradient lab: the ||dh_t/dh_k|| map and the last-step profile against autograd Jacobians, side by side.

Autograd's side gets only the Jacobians (its norms are not timed), in its fastest form that I found: one
``torch.autograd.functional.jacobian(..., vectorize=True)`` of every state h_t (of h_{T-1} for the profile)
with respect to zero perturbations z_k added to every h_k; dh_t/dh_k = dh_t/dz_k. (Per-k Jacobians of
h_k -> (h_k, ..., h_{T-1}) were over 10x slower still.)
"""

from __future__ import annotations

import time

import torch

from models.labs.gradients import jacobians as g


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _setup(T: int, H: int, d: int = 4):
    W, U, b = g.make_weights(H, d, 1.0, init="orthogonal", seed=0)
    return W, U, b, g.random_inputs(T, d, seed=0)


def autograd_map(W, U, b, x) -> torch.Tensor:
    """All dh_t/dh_k at once: the Jacobian of every state w.r.t. zero perturbations z_k added to every h_k."""
    T, H = x.shape[0], W.shape[0]

    def all_states(z):  # z (T, H)
        h, states = torch.zeros(H, dtype=torch.float64), []
        for t in range(T):
            h = torch.tanh(U @ x[t] + W @ h + b) + z[t]
            states.append(h)
        return torch.stack(states)

    zeros = torch.zeros(T, H, dtype=torch.float64)
    return torch.autograd.functional.jacobian(all_states, zeros, vectorize=True)  # (T, H, T, H)


def autograd_profile(W, U, b, x) -> None:
    T, H = x.shape[0], W.shape[0]

    def last_state(z):  # z (T, H): perturbations added to every h_k
        h = torch.zeros(H, dtype=torch.float64)
        for t in range(T):
            h = torch.tanh(U @ x[t] + W @ h + b) + z[t]
        return h

    torch.autograd.functional.jacobian(last_state, torch.zeros(T, H, dtype=torch.float64), vectorize=True)


def measure() -> dict:
    W, U, b, x = _setup(100, 64)
    ours_map = _best(lambda: g.jacobian_norms(W, U, b, x))
    ours_map_frobenius = _best(lambda: g.jacobian_norms(W, U, b, x, norm="frobenius"))
    autograd_map_s = _best(lambda: autograd_map(W, U, b, x), repeats=1)
    W2, U2, b2, x2 = _setup(200, 128)
    ours_profile = _best(lambda: g.last_step_profile(W2, U2, b2, x2), repeats=5)
    autograd_profile_s = _best(lambda: autograd_profile(W2, U2, b2, x2), repeats=1)
    largest = g.plan_map(200, 128)
    ours_largest = _best(lambda: g.jacobian_norm_map(W2, U2, b2, x2, k_stride=largest), repeats=1)
    return {
        "map_T100_H64_spectral_s": round(ours_map, 4),
        "map_T100_H64_frobenius_s": round(ours_map_frobenius, 4),
        "map_T100_H64_autograd_jacobians_s": round(autograd_map_s, 4),
        "map_speedup_vs_autograd": round(autograd_map_s / ours_map, 1),
        "profile_T200_H128_spectral_s": round(ours_profile, 4),
        "profile_T200_H128_autograd_jacobian_s": round(autograd_profile_s, 4),
        "profile_speedup_vs_autograd": round(autograd_profile_s / ours_profile, 1),
        "page_largest_map_T200_H128_k_stride": largest,
        "page_largest_map_T200_H128_s": round(ours_largest, 4),
    }


def run() -> dict:
    """At one intra-op thread: on a shared 2-core machine torch's default threads oversubscribe the cores
    (measured here under load: the map took 10x longer with 2 threads than with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"threads": 1, **measure()}
    finally:
        torch.set_num_threads(threads)
