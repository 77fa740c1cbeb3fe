"""RNN applications lab: time to target of each experiment's default model, the engine against a plain PyTorch loop
of the same model side by side, and sampling 100 words.

Targets (checked every ``EVAL_EVERY`` steps; evaluation time is excluded):
- language model (LSTM): held-out perplexity below the closed-form bigram's;
- encoder-decoder with attention: greedy exact match >= 95% over inputs of 1 to 10 digits;
- ConvLSTM: next-frame IoU above both copying the last frame and the shipped per-frame CNN, and phase accuracy above
  the shipped per-frame CNN's (the issue's goal: within 60 s on 2 CPU cores).

Engine overhead: ``OVERHEAD_STEPS`` steps of the engine and of a plain loop (the same model, seed, batches, loss,
Adam, clipping) timed alternately, twice each; the ratio holds on any machine.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from models.core.evaluation import IGNORE_INDEX
from models.core.pretrain import ASSETS
from models.labs.applications.charlm import baselines, sample_words
from models.labs.applications.pretrain import load_pretrained, single
from models.labs.applications.spec import build_model, build_trainer, default_run, evaluate
from models.labs.applications.video import video_loss

THREADS = 2
GOAL_SECONDS = 60.0
SAMPLE_GOAL_MS = 250.0
OVERHEAD_STEPS = 100
WARMUP_STEPS = 5
REPEATS = 5
EVAL_EVERY = {"charlm": 100, "seq2seq": 100, "video": 25}
MODELS = {"charlm": "lstm", "seq2seq": "attention", "video": "convlstm"}


def targets() -> dict:
    """Each experiment's target, from the closed-form baseline or the shipped per-frame CNN."""
    _, cnn = load_pretrained(ASSETS, "video", "cnn")
    return {
        "charlm": {"perplexity_below": round(baselines().bigram, 3)},
        "seq2seq": {"accuracy_at_least": 0.95},
        "video": {
            "iou_above": round(max(cnn["scores"]["iou"], cnn["scores"]["copy_last_iou"]), 4),
            "accuracy_above": round(cnn["scores"]["accuracy"], 4),
        },
    }


def reached(experiment: str, scores: dict, target: dict) -> bool:
    if experiment == "charlm":
        return scores["perplexity"] < target["perplexity_below"]
    if experiment == "seq2seq":
        return scores["accuracy"] >= target["accuracy_at_least"]
    return scores["iou"] > target["iou_above"] and scores["accuracy"] > target["accuracy_above"]


def time_to_target(experiment: str, target: dict) -> dict:
    run = single(default_run(experiment), MODELS[experiment])
    trainer = build_trainer(run, device="cpu")
    seconds, scores = 0.0, {}
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk(EVAL_EVERY[experiment])
        seconds += time.perf_counter() - started
        scores = evaluate(run, trainer.model)
        if reached(experiment, scores, target):
            break
    shown = {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}
    return {
        "model": MODELS[experiment],
        "target": target,
        "reached": reached(experiment, scores, target),
        "steps": trainer.step,
        "budget_steps": run.train.steps,
        "seconds": round(seconds, 2),
        "scores": shown,
        "within_goal": reached(experiment, scores, target) and seconds <= GOAL_SECONDS,
    }


def plain_loss(experiment: str, model, batch) -> torch.Tensor:
    """The training loss written out without the engine."""
    if experiment == "video":
        videos, phases = batch
        return video_loss(model(videos), videos, phases)
    *inputs, targets = batch
    logits = model(*inputs)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


def plain_loop_seconds(experiment: str, steps: int) -> float:
    """``steps`` steps of a hand-written loop: batch, forward, loss, backward, clipping, Adam (cosine lr as the run)."""
    run = single(default_run(experiment), MODELS[experiment])
    config = run.train
    torch.manual_seed(config.seed)
    model = build_model(run, MODELS[experiment])
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    sample = run.data.sample if experiment == "charlm" else run.task.sample
    started = time.perf_counter()
    for step in range(steps):
        loss = plain_loss(experiment, model, sample(step, generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(step)
        optimizer.step()
    return time.perf_counter() - started


def engine_seconds(experiment: str, steps: int) -> float:
    run = single(default_run(experiment), MODELS[experiment])
    trainer = build_trainer(replace(run, train=replace(run.train, steps=steps)), device="cpu")
    started = time.perf_counter()
    trainer.run()
    return time.perf_counter() - started


def engine_overhead(experiment: str) -> dict:
    """The faster of two alternating rounds each, after a warm-up (data caches, first allocations)."""
    plain_loop_seconds(experiment, WARMUP_STEPS)
    rounds = [
        (engine_seconds(experiment, OVERHEAD_STEPS), plain_loop_seconds(experiment, OVERHEAD_STEPS)) for _ in "ab"
    ]
    engine, plain = min(e for e, _ in rounds), min(p for _, p in rounds)
    return {
        "steps": OVERHEAD_STEPS,
        "engine_ms_per_step": round(1000 * engine / OVERHEAD_STEPS, 2),
        "plain_ms_per_step": round(1000 * plain / OVERHEAD_STEPS, 2),
        "engine_over_plain": round(engine / plain, 3),
    }


def sampling_ms(n: int = 100) -> dict:
    """The fastest of ``REPEATS`` draws of ``n`` words from the shipped language model."""
    model, _ = load_pretrained(ASSETS, "charlm", "lstm")
    times = []
    for seed in range(REPEATS):
        started = time.perf_counter()
        sample_words(model, n, temperature=1.0, seed=seed)
        times.append(time.perf_counter() - started)
    best = 1000 * min(times)
    return {"words": n, "best_ms": round(best, 1), "goal_ms": SAMPLE_GOAL_MS, "within_goal": best <= SAMPLE_GOAL_MS}


def run() -> dict:
    previous = torch.get_num_threads()
    threads = min(THREADS, previous)
    torch.set_num_threads(threads)
    try:
        goals = targets()
        return {
            "torch_threads": threads,
            "goal_seconds_to_target": GOAL_SECONDS,
            "time_to_target": {name: time_to_target(name, goals[name]) for name in MODELS},
            "engine_overhead": {name: engine_overhead(name) for name in MODELS},
            "sampling_100_words": sampling_ms(),
            "note": "CPU, shared machine: absolute times are noisy; the overhead ratios are measured side by side",
        }
    finally:
        torch.set_num_threads(previous)
