"""Views of the high-resolution attention lab: reach, the side-by-side comparison, cost and the 180 GB U-Net, GLAM's
global tokens, FINE's crop walk, nnFormer's stages. Each draws its figures with a "how to read this"."""

import numpy as np
import streamlit as st

from models.blocks.windows import check_attention_fits
from models.labs.highres import analysis
from models.labs.highres.models import LABELS, MAX_MAP, MECHANISMS
from models.labs.highres.pretrain import DEEP_SHIFTED, GLAM_RECIPES, RECIPES, checkpoint_path, model_from_checkpoint
from pages import _ui
from viz import highres as figures
from viz.rnn import comparison_curves

MAX_REACH_DEPTH = 12
MB = 2**20
MEASURED_SIZES = (8, 16, 32)
COUNTED_SIZES = tuple(2**k for k in range(2, 13))
GLAM_MAP, GLAM_TOKEN = 16, (5, 6)


def pretrained(name: str):
    """A fresh copy of the pretrained model ``name`` and its metadata."""
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, name).name)
    return model_from_checkpoint(checkpoint, f"pretrained {name}"), checkpoint.meta


@st.cache_data(show_spinner="Reading what each mechanism reaches...", max_entries=64)
def reach(mechanism: str, n: int, token: tuple[int, int], m: int, g: int, seed: int) -> analysis.ReachMaps:
    return analysis.reach_maps(mechanism, n, MAX_REACH_DEPTH, token, m, g, seed)


def reach_view(n: int, m: int, g: int, token: tuple[int, int], depth: int, seed: int) -> None:
    maps = {mechanism: reach(mechanism, n, token, m, g, seed) for mechanism in MECHANISMS}
    figure = figures.reach_figure({k: r.maps[depth - 1] for k, r in maps.items()}, token, depth)
    how = (
        "Coloured: the tokens the picked token (x) can change after L blocks. The lecture predicts: W-MSA stays in "
        "its window forever; shifted windows grow it block by block; GLAM reaches everything from the second block "
        "through its global tokens; full attention at once. Deformable attention reaches only its K sampled points "
        "per head (drawn at its initial offsets; training moves them)."
    )
    _ui.show_figure(figure, "hr_reach", how)
    how = "The share of the map reached against L: flat for W-MSA, a staircase for shifted windows, 100% for GLAM."
    _ui.show_figure(figures.reach_share_figure({k: r.shares for k, r in maps.items()}, depth), "hr_reach_share", how)
    arrays = {f"reach_{k}": r.maps for k, r in maps.items()} | {f"share_{k}": r.shares for k, r in maps.items()}
    _ui.export_buttons("highres_reach", arrays, {"map": n, "window": m, "G": g, "token": list(token), "L": depth})


@st.cache_data(show_spinner="Reading the pretrained models...")
def pretrained_summary() -> dict:
    """{recipe: (accuracy, key reach, curve, mechanism)} of the shipped comparison."""
    summary = {}
    for name in (*MECHANISMS, DEEP_SHIFTED):
        model, meta = pretrained(name)
        summary[name] = (meta["test_accuracy"], analysis.key_reach(model), meta["curve"], model.config.mechanism)
    return summary


def comparison_view(example: int) -> None:
    """The pretrained comparison at once: accuracy against reach, the curves, one test map answered by each."""
    summary = pretrained_summary()
    points = {LABELS[name]: (name, summary[name][1], summary[name][0]) for name in MECHANISMS}
    points["W-MSA + SW-MSA, depth 4"] = ("shifted", summary[DEEP_SHIFTED][1], summary[DEEP_SHIFTED][0])
    left, right = st.columns(2)
    with left:
        figure = figures.accuracy_vs_reach_figure(points, "Pretrained: accuracy against reach")
        how = (
            "Each model on 256 fixed test maps against the share of the map its corner key reaches. The lecture's "
            "prediction: accuracy follows reach, on the dashed bound; W-MSA at chance, W + SW higher with depth "
            "(depth 4 marked), GLAM and full attention solve it."
        )
        _ui.show_figure(figure, "hr_acc_reach", how)
    with right:
        curves = {LABELS[summary[n][3]]: summary[n][2] for n in MECHANISMS}
        how = "Training accuracy per step (seed 0, the steps each needed to plateau); chance is 1/2."
        _ui.show_figure(comparison_curves(curves, "Pretrained runs"), "hr_pre_curves", how)
    seconds = {LABELS[RECIPES[n].mechanism]: pretrained(n)[1]["seconds"] for n in MECHANISMS}
    st.caption("Pretraining time on 2 CPU cores: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".")
    use = {n: analysis.key_use(pretrained(n)[0], example) for n in MECHANISMS}
    how = (
        "The same map answered with key 0 and with key 1. Green tokens are right both times: they read the key. "
        "Grey ones answer the same either way, right for one key only: blind to it, as a token beyond the key's "
        "reach must be. The lecture predicts W-MSA reads it only in the key's window, W + SW a little further, "
        "GLAM and full attention everywhere."
    )
    cell = analysis.example_map(16, example)[2]
    _ui.show_figure(figures.key_use_figure(use, cell), "hr_key_use", how)
    arrays = {f"{k}_reach_accuracy": np.array(v[1:]) for k, v in points.items()}
    _ui.export_buttons("highres_comparison", arrays, {name: RECIPES[name].settings() for name in summary})


def live_comparison(make_group) -> None:
    """Train the chosen mechanisms side by side; afterwards, accuracy against reach for the live models."""

    def render(group) -> None:
        curves = {LABELS[name]: history for name, history in group.histories.items()}
        how = "Training accuracy per step; the lecture predicts W-MSA at chance, GLAM and full attention to 100%."
        _ui.show_figure(comparison_curves(curves, "Training live, side by side"), "hr_live_curves", how)
        steps = (f"{LABELS[name]} {t.step} / {t.config.steps}" for name, t in group.trainers.items())
        st.caption("Steps: " + ", ".join(steps) + ".")

    group = _ui.live_training("hr_cmp", make_group, render, "Train side by side", ("accuracy", 0.5))
    if group is None or not group.done:
        return
    points = {LABELS[n]: (n, analysis.key_reach(m), analysis.evaluate(m)) for n, m in group.models.items()}
    how = "Your models: accuracy on the fixed test maps against the reach of the key; the lecture's bound dashed."
    _ui.show_figure(figures.accuracy_vs_reach_figure(points, "Your models: accuracy against reach"), "hr_live", how)


@st.cache_data(show_spinner="Measuring every mechanism, forward and backward...", max_entries=8)
def measured(budget_mb: int, batch: int, sizes: tuple[int, ...], device: str) -> list[analysis.CostPoint]:
    return analysis.cost_table(sizes, analysis.CostSpec("full", 8), batch, budget_mb * MB, device=device)


def cost_view(budget_mb: int, batch: int, side: int, m: int) -> None:
    sizes = MEASURED_SIZES + ((MAX_MAP,) if st.session_state.get("hr_measure_big") else ())
    st.toggle(f"Measure {MAX_MAP}x{MAX_MAP} too (about 10 s)", key="hr_measure_big")
    formula = analysis.cost_table(COUNTED_SIZES, analysis.CostSpec("full", 8), batch, budget_mb * MB, measure=False)
    points = measured(budget_mb, batch, sizes, str(_ui.device()))
    how = (
        "Left, Swin's formulas for C = 32: Omega(MSA) = 4hwC^2 + 2(hw)^2 C grows with the square of the tokens, "
        "Omega(W-MSA) = 4hwC^2 + 2M^2 hwC linearly. Middle, milliseconds measured here, on the sidebar's device. "
        "Right, the attention "
        "weights' memory: full attention is refused where it no longer fits the budget, with the estimate."
    )
    _ui.show_figure(figures.cost_figure(formula, points), "hr_cost", how)
    times = {(p.mechanism, p.map_size): p for p in points if p.milliseconds is not None}
    largest = max((size for (name, size) in times if name == "full"), default=None)
    if largest is not None:
        full, window = times[("full", largest)], times[("window", largest)]
        work, time_ratio = full.formula / window.formula, full.milliseconds / window.milliseconds
        st.markdown(
            f"At {largest}x{largest} tokens, full attention against W-MSA (M = 4): the formula predicts "
            f"**{work:.1f}x** the attention's work; measured, **{time_ratio:.1f}x** the time of a whole block (whose "
            f"feed-forward layer costs both the same) and **{full.attention_bytes / window.attention_bytes:.0f}x** "
            "the attention memory. A loaded machine blurs small timings."
        )
    columns = ("mechanism", "map_size", "formula", "attention_bytes", "milliseconds")
    arrays = {c: np.array([np.nan if getattr(p, c) is None else getattr(p, c) for p in points]) for c in columns}
    refused = [p.refused for p in formula if p.refused]
    _ui.export_buttons("highres_cost", arrays, {"budget_mb": budget_mb, "batch": batch, "refused": refused})
    st.markdown(f"**Your size: {side} x {side} = {side * side:,} tokens, M = {m}, batch {batch}**")
    with _ui.user_errors():
        for mechanism in MECHANISMS:
            spec = analysis.CostSpec(mechanism, side, window_size=m)
            cost, size = analysis.attention_cost(spec), analysis.attention_bytes(spec, batch)
            st.markdown(f"- {LABELS[mechanism]}: {cost:.3g} multiply-adds, attention weights {size / MB:,.1f} MB")
        try:
            check_attention_fits(side * side, spec.n_heads, batch, budget_mb * MB)
            st.success("Full attention fits the budget at this size.")
        except ValueError as refusal:
            st.warning(f"Refused, not attempted: {refusal}.", icon=":material/block:")


def unet_view(shape: tuple[int, ...], base: int, levels: int, bytes_per_value: int, batch: int) -> None:
    memory = analysis.unet_memory(shape, base, levels, bytes_per_value=bytes_per_value, batch=batch)
    st.metric("Activations kept for the backward pass", f"{memory.activation_bytes / 1e9:,.1f} GB")
    how = (
        "Every tensor a 3D U-Net (Cicek et al., 32 to 512 channels) keeps for backward, per level. The lecture: "
        "about 180 GB for 512x512x256, which is why 3D networks train on crops and lose the full context."
    )
    _ui.show_figure(figures.unet_memory_figure(memory, shape), "hr_unet", how)
    st.caption(
        f"{memory.activation_gib:,.1f} GiB; weights, gradients and Adam's moments add "
        f"{16 * memory.parameters / 1e9:.2f} GB ({memory.parameters:,} parameters)."
    )


def glam_view(g: int, token: tuple[int, int], example: int) -> None:
    model, meta = pretrained(GLAM_RECIPES[g])
    if max(token) >= GLAM_MAP:
        st.info(f"The pretrained GLAM models run on {GLAM_MAP}x{GLAM_MAP} tokens: showing token {GLAM_TOKEN}.")
        token = GLAM_TOKEN
    tokens, _, cell = analysis.example_map(GLAM_MAP, example)
    maps = analysis.glam_maps(model, tokens, token)
    block_col, head_col = st.columns(2)
    block = block_col.radio("Block", (0, 1), format_func=lambda b: f"block {b + 1}", horizontal=True, key="hr_gb")
    head = head_col.radio("Head", (0, 1), format_func=lambda h: f"head {h + 1}", horizontal=True, key="hr_gh")
    st.caption(
        f"GLAM with G = {g} (pretrained, test accuracy {meta['test_accuracy']:.1%}) on 16x16 tokens, M = 4, test map "
        f"{example} of the comparison tab, key 1 in the corner {cell}."
    )
    how = (
        "Each global token sits in front of its window and reads the window's tokens (W-MSA over G + M^2 tokens); "
        "the title says how much the picked token (x) reads from it. That is how a window's content leaves it."
    )
    _ui.show_figure(figures.glam_window_figure(maps, block, head, GLAM_MAP), "hr_glam_window", how)
    how = (
        "G-MSA: the global tokens of all windows attend to each other (rows read columns; the picked token's window "
        "outlined). The lecture: this indirection gives every visual token access to every other, at a cost linear "
        "in the windows' tokens plus (nW G)^2."
    )
    _ui.show_figure(figures.glam_global_figure(maps, block, head, g), "hr_glam_global", how)
    arrays = {"token_to_global": maps.token_to_global, "global_attention": maps.global_attention}
    _ui.export_buttons("highres_glam", arrays, {"G": g, "token": list(token), "example": example})


@st.cache_data(show_spinner="Walking the crops...", max_entries=16)
def walk(image: int, crop: int, grid: int, mix: bool, seed: int) -> list[analysis.CropStep]:
    return analysis.fine_walk(image, crop, grid, mix, seed=seed)


def fine_view(image: int, crop: int, grid: int, mix: bool, seed: int) -> None:
    steps = walk(image, crop, grid, mix, seed)
    positions = [s.position for s in steps]
    index = st.slider("Crop", 1, len(steps), len(steps), key="hr_fine_step") - 1
    step = steps[index]
    how = (
        "Left: the image tokens this crop's output depends on (the crop solid, earlier crops dotted). Then the memory "
        "cells it reads, writes, and those visited so far. FINE's point: evidence from crops seen earlier reaches "
        "this crop through the memory, so context crosses crop borders."
    )
    _ui.show_figure(figures.crop_walk_figure(step, positions, crop, index), "hr_fine", how)
    outside = step.uses_outside((crop, crop))
    st.markdown(
        f"Crop {index + 1} reads cells {step.cells}; its output "
        + (
            "**depends on tokens outside the crop**, seen by earlier crops."
            if outside
            else "depends on its own tokens only."
        )
    )
    arrays = {"evidence": step.evidence, "read": step.read, "write": step.write, "visited": step.visited}
    _ui.export_buttons("highres_fine", arrays, {"image": image, "crop": crop, "grid": grid, "step": index})


def nnformer_view(n: int, m: int, stages: int) -> None:
    views = analysis.nnformer_stages(n, m, stages, 32)
    how = (
        "nnFormer's encoder: patch merging halves the map at each stage. At high resolution each token attends in "
        "its M x M window; once the map is no larger than the window, that window is the whole map: global attention "
        "at the bottleneck. The lecture: no global context in the high-resolution maps."
    )
    _ui.show_figure(figures.nnformer_figure(views), "hr_nnformer", how)
    how = "Windows keep every stage's cost linear in hw; full attention would cost most where the map is largest."
    _ui.show_figure(figures.stage_cost_figure(views), "hr_nnformer_cost", how)
