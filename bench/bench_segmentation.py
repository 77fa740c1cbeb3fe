"""Segmentation lab: pretrained Dice, live-training time to Dice 0.9 on the striped-key task, inference time with
attention, and milliseconds per training step and per inference of every architecture at 64x64, side by side.

Time to Dice 0.9 counts only optimizer steps (validation on 32 fixed images every 10 steps is not
counted), on one thread. Both wall-clock and process CPU seconds are recorded: on a machine shared
with other jobs the wall clock mostly measures the others, while CPU seconds of a one-thread run
estimate the wall time of an idle core. The U-Net gets the same number of steps, side by side; the
U-Transformer is also timed without its skip cross-attention (MHSA only).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from models.blocks.unet import theoretical_receptive_field
from models.core.pretrain import ASSETS
from models.data.images import MAX_UPLOAD_SIDE
from models.labs.segmentation.analysis import analyse, cost, evaluate, pixel_attention
from models.labs.segmentation.architectures import ARCHITECTURES, build
from models.labs.segmentation.pretrain import RECIPES, load_pretrained
from models.labs.segmentation.spec import SegmentationRun, build_trainer
from models.labs.segmentation.tasks import LabTask

TARGET_DICE = 0.9
MAX_STEPS = 300
EVAL_EVERY = 10
RF_RADIUS = theoretical_receptive_field(2) / 2


def time_to_dice(
    architecture: str,
    cross_attention: bool = True,
    lr: float = 2e-3,
    batch_size: int = 16,
    max_steps: int = MAX_STEPS,
) -> dict:
    task = LabTask("striped")
    train = replace(SegmentationRun().train, steps=max_steps, lr=lr, chunk_size=EVAL_EVERY)
    run = SegmentationRun(task, architecture, batch_size=batch_size, train=train, cross_attention=cross_attention)
    trainer = build_trainer(run, "cpu")
    model = trainer.model
    seconds, cpu_seconds, dice = 0.0, 0.0, 0.0
    while not trainer.done:
        started, started_cpu = time.perf_counter(), time.process_time()
        trainer.run_chunk()
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - started_cpu
        dice = evaluate(model, task, n_images=32).dice
        if dice >= TARGET_DICE:
            break
    return {
        "architecture": architecture,
        "cross_attention": cross_attention,
        "lr": lr,
        "batch_size": batch_size,
        "reached": dice >= TARGET_DICE,
        "steps": trainer.step,
        "train_wall_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "cpu_seconds_per_step": round(cpu_seconds / max(trainer.step, 1), 3),
        "final_validation_dice": round(dice, 3),
    }


def inference_ms() -> dict:
    model = load_pretrained(ASSETS, "striped_utransformer").cpu()
    image = LabTask().sample(0, seed=1).image
    times, cpu_times = [], []
    for _ in range(20):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = analyse(model, image)
        pixel_attention(result.trace, 32, 32, image.shape)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - started_cpu) * 1000)
    return {
        "median_wall_ms": round(statistics.median(times), 1),
        "max_wall_ms": round(max(times), 1),
        "median_cpu_ms": round(statistics.median(cpu_times), 1),
    }


def architecture_costs(batch_size: int = 16, repeats: int = 5) -> dict:
    """Milliseconds per training step (forward, backward, AdamW) and per inference of every architecture on the same
    batch of 64x64 striped-key images, one after another in this process, with its parameter count."""
    task = LabTask("striped")
    costs = {}
    for architecture in ARCHITECTURES:
        torch.manual_seed(0)
        spent = cost(build(architecture, task.size), task, batch_size, repeats)
        costs[architecture] = {
            "parameters": spent.parameters,
            "ms_per_training_step": round(spent.step_ms, 1),
            "ms_per_inference": round(spent.inference_ms, 1),
        }
    unet = costs["unet"]["ms_per_training_step"]
    for entry in costs.values():
        entry["step_vs_unet"] = round(entry["ms_per_training_step"] / unet, 2)
    return {"batch_size": batch_size, "image": "64x64", "threads": torch.get_num_threads(), "by_architecture": costs}


def _mean_or_none(values) -> float | None:
    return round(float(values.mean()), 3) if len(values) else None


def pretrained_dice(n_images: int = 200) -> dict:
    scores = {}
    for name, run in RECIPES.items():
        result = evaluate(load_pretrained(ASSETS, name).cpu(), run.task, n_images)
        near = result.distances < RF_RADIUS
        scores[name] = {
            "dice": round(result.dice, 3),
            "object_accuracy": round(float(result.correct.mean()), 3),
            "object_accuracy_within_rf_radius": _mean_or_none(result.correct[near]),
            "object_accuracy_beyond_rf_radius": _mean_or_none(result.correct[~near]),
        }
    return scores


UPLOAD_DECODE = """
import sys
from models.data.images import load_grayscale_image
def peak_kb():  # VmHWM, the peak resident set of this process (ru_maxrss would carry the parent's over exec)
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
data = open(sys.argv[1], "rb").read()
before = peak_kb()
load_grayscale_image(data)
print((peak_kb() - before) / 1024)
"""


def upload_peak_mb() -> dict:
    """Peak memory one upload adds, for the largest accepted PNG (2048x2048 RGBA) and JPEG (4096x4096 RGB),
    each decoded in a fresh process."""
    peaks = {}
    for side, mode, kind in ((MAX_UPLOAD_SIDE["PNG"], "RGBA", "PNG"), (MAX_UPLOAD_SIDE["JPEG"], "RGB", "JPEG")):
        pixels = np.zeros((side, side, len(mode)), np.uint8)
        pixels[..., 0] = np.arange(side)[None, :] * 255 // side
        pixels[..., -1] = 255
        with tempfile.TemporaryDirectory() as folder:
            path = f"{folder}/upload"
            Image.fromarray(pixels, mode).save(path, kind, quality=95)
            grew = subprocess.run(
                [sys.executable, "-c", UPLOAD_DECODE, path], check=True, capture_output=True, text=True
            )
        peaks[f"{side}x{side} {mode} {kind}"] = round(float(grew.stdout), 1)
    return {"peak_rss_growth_mb": peaks}


def run() -> dict:
    torch.set_num_threads(1)
    ut_default = time_to_dice("utransformer")
    unet_default = time_to_dice("unet", max_steps=ut_default["steps"])
    ut_mhsa_only = time_to_dice("utransformer", cross_attention=False)
    inference = inference_ms()
    return {
        "threads": torch.get_num_threads(),
        "utransformer_time_to_dice_0_9": ut_default,
        "unet_same_budget": unet_default,
        "utransformer_mhsa_only": ut_mhsa_only,
        "utransformer_vs_unet_cpu_seconds_per_step": round(
            ut_default["cpu_seconds_per_step"] / unet_default["cpu_seconds_per_step"], 2
        ),
        "inference_with_attention_64x64": inference,
        "architectures_ms_64x64": architecture_costs(),
        "pretrained_dice_200_validation_slices": pretrained_dice(),
        "unet_depth2_rf_radius_px": RF_RADIUS,
        "upload_decode": upload_peak_mb(),
        "note": f"time to Dice {TARGET_DICE} counts optimizer steps only; machine shared with other jobs",
    }
