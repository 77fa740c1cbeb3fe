"""Positional-encoding lab: building P and K = P P^T at the largest size the page offers by default."""

from __future__ import annotations

import statistics
import time

from models.blocks.positional import positional_similarity, sinusoidal_encoding

PE_GOAL_SECONDS = 0.1


def pe_build_time() -> dict:
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        P = sinusoidal_encoding(512, 512)
        positional_similarity(P)
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    return {
        "d_model": 512,
        "positions": 512,
        "median_seconds": round(median, 5),
        "goal_seconds": PE_GOAL_SECONDS,
        "met": median < PE_GOAL_SECONDS,
    }


def run() -> dict:
    return {"pe_build": pe_build_time()}
