"""Attention lab: our MultiHeadAttention (returning per-head weights) vs nn.MultiheadAttention, side by side.

Also the time to reach the default toy task's target accuracy with the engine.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from models.blocks.attention import MultiHeadAttention
from models.core.evaluation import accuracy
from models.labs.attention.spec import DEFAULTS, TARGET_ACCURACY, build_trainer

BATCH, LENGTH, D_MODEL, HEADS = 8, 128, 128, 8
REPEATS, ROUNDS = 5, 60


def _time(fn) -> float:
    started = time.perf_counter()
    for _ in range(REPEATS):
        fn()
    return (time.perf_counter() - started) / REPEATS


def mha_ratio() -> dict:
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True).eval()
    ours = MultiHeadAttention(D_MODEL, HEADS).eval()
    ours.load_torch_weights(reference)
    x = torch.randn(BATCH, LENGTH, D_MODEL)
    run_ours = lambda: ours.trace(x)  # noqa: E731
    run_ref = lambda: reference(x, x, x, need_weights=True, average_attn_weights=False)  # noqa: E731
    ours_s, ref_s = [], []
    with torch.inference_mode():
        run_ours(), run_ref()
        for round_index in range(ROUNDS):  # interleaved rounds, so load from other processes hits both alike
            first_ours = round_index % 2 == 0  # alternate who goes first: the first timing of a round pays more
            for run, times in ((run_ours, ours_s), (run_ref, ref_s))[:: 1 if first_ours else -1]:
                times.append(_time(run))
    ratios = sorted(o / r for o, r in zip(ours_s, ref_s, strict=True))
    return {
        "shape": {"batch": BATCH, "tokens": LENGTH, "d_model": D_MODEL, "heads": HEADS},
        "ours_ms_best": round(1e3 * min(ours_s), 3),
        "torch_mha_need_weights_ms_best": round(1e3 * min(ref_s), 3),
        "ratio_of_best": round(min(ours_s) / min(ref_s), 3),
        "ratio_median_of_rounds": round(ratios[len(ratios) // 2], 3),
        "target_ratio": 1.5,
        "note": "eval + inference_mode for both; rounds interleaved, each going first in every other round",
    }


def time_to_target(name: str = "reverse") -> dict:
    """Training seconds (evaluation excluded) until held-out token accuracy reaches the task's target."""
    run = DEFAULTS[name]
    trainer = build_trainer(run, device="cpu")
    trained_s, reached = 0.0, None
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk()
        trained_s += time.perf_counter() - started
        if accuracy(trainer.model, run.task.test_batches()) >= TARGET_ACCURACY[name]:
            reached = trainer.step
            break
    return {
        "task": name,
        "target_accuracy": TARGET_ACCURACY[name],
        "steps_to_target": reached,
        "seconds_to_target": round(trained_s, 2) if reached else None,
        "goal_seconds": 20,
        "torch_threads": torch.get_num_threads(),
    }


def run() -> dict:
    return {"mha_forward_with_weights": mha_ratio(), "time_to_target": time_to_target()}
