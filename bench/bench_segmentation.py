"""Segmentation lab: pretrained Dice, live-training time to Dice 0.9, inference time with attention.

Time to Dice 0.9 counts only optimizer steps (validation on 32 fixed slices every 10 steps is not
counted). Variants are measured side by side in one run: the default key (8x8 px, bright or dim)
against a smaller one (4x4 px), the evidence the attention has to find.
"""

from __future__ import annotations

import statistics
import time

import torch

from models.pretrain import ASSETS
from models.segmentation import build_model, theoretical_receptive_field
from models.segmentation_analysis import analyse, pixel_attention
from models.segmentation_data import SegmentationTask, generate_sample
from models.segmentation_task import PRETRAINED, evaluate, load_pretrained, make_trainer

TARGET_DICE = 0.9
MAX_STEPS = 300
EVAL_EVERY = 10
RF_RADIUS = theoretical_receptive_field(2) / 2


def time_to_dice(
    architecture: str, key_size: int = 8, lr: float = 2e-3, batch_size: int = 16, max_steps: int = MAX_STEPS
) -> dict:
    torch.manual_seed(0)
    task = SegmentationTask("key", key_size=key_size)
    model = build_model(architecture)
    trainer = make_trainer(model, task, max_steps, lr, batch_size, 0, "cpu", chunk_size=EVAL_EVERY)
    seconds, dice = 0.0, 0.0
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk()
        seconds += time.perf_counter() - started
        dice = evaluate(model, task, n_images=32).dice
        if dice >= TARGET_DICE:
            break
    return {
        "architecture": architecture,
        "key_size": key_size,
        "lr": lr,
        "batch_size": batch_size,
        "reached": dice >= TARGET_DICE,
        "steps": trainer.step,
        "train_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / max(trainer.step, 1), 3),
        "final_validation_dice": round(dice, 3),
    }


def inference_ms() -> dict:
    model = load_pretrained(ASSETS, "key_utransformer").cpu()
    image = generate_sample(SegmentationTask(), 1, 0).image
    times = []
    for _ in range(20):
        started = time.perf_counter()
        result = analyse(model, image)
        pixel_attention(result.trace, 32, 32, image.shape)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def pretrained_dice(n_images: int = 200) -> dict:
    scores = {}
    for task, models in PRETRAINED.items():
        for name in models.values():
            result = evaluate(load_pretrained(ASSETS, name).cpu(), SegmentationTask(task), n_images)
            near = result.distances < RF_RADIUS
            scores[name] = {
                "dice": round(result.dice, 3),
                "object_accuracy": round(float(result.correct.mean()), 3),
                "object_accuracy_within_rf_radius": round(float(result.correct[near].mean()), 3)
                if near.any()
                else None,
                "object_accuracy_beyond_rf_radius": round(float(result.correct[~near].mean()), 3),
            }
    return scores


def run() -> dict:
    torch.set_num_threads(2)
    ut_default = time_to_dice("utransformer")
    unet_default = time_to_dice("unet", max_steps=ut_default["steps"])
    ut_small_key = time_to_dice("utransformer", key_size=4)
    return {
        "threads": torch.get_num_threads(),
        "pretrained_dice_200_validation_slices": pretrained_dice(),
        "utransformer_time_to_dice_0_9": ut_default,
        "unet_same_budget": unet_default,
        "utransformer_small_key_4px": ut_small_key,
        "utransformer_vs_unet_seconds_per_step": round(
            ut_default["seconds_per_step"] / unet_default["seconds_per_step"], 2
        ),
        "inference_with_attention_64x64": inference_ms(),
        "unet_depth2_rf_radius_px": RF_RADIUS,
        "note": f"time to Dice {TARGET_DICE} counts optimizer steps only; machine shared with other jobs",
    }
