"""Segmentation lab: U-Net vs U-Transformer on CT-like slices where only distant evidence decides."""

import numpy as np
import streamlit as st
import torch

from models.device import device_label
from models.segmentation import DEPTHS, LABELS, build_model, theoretical_receptive_field
from models.segmentation_analysis import (
    analyse,
    effective_receptive_field,
    gate_maps,
    load_grayscale_image,
    pixel_attention,
)
from models.segmentation_data import SegmentationTask, generate_sample
from models.segmentation_task import (
    PRETRAINED,
    VALIDATION_SEED,
    checkpoint_path,
    evaluate,
    make_trainer,
    model_from_checkpoint,
)
from pages import _ui
from viz.segmentation import (
    accuracy_vs_distance,
    dice_bars,
    four_panels,
    gate_figure,
    head_attention,
    receptive_field_figure,
)
from viz.training import history_curves

SIZE = 64
N_VALIDATION = 64
TASK_LABELS = {"key": "Long range: key in the corner", "local": "Control: local texture decides"}
LECTURE_FIGURE = {"seg_task": "key", "seg_index": 3, "seg_opacity": 0.55, "seg_row": 0, "seg_col": 0}


def apply_lecture_figure() -> None:
    st.session_state.update(LECTURE_FIGURE)
    target = next(o for o in generate_sample(SegmentationTask("key"), VALIDATION_SEED, 3).objects if o.is_target)
    st.session_state.update(seg_row=int(round(target.center[0])), seg_col=int(round(target.center[1])))


def pretrained(task: str, label: str):
    name = PRETRAINED[task][label]
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, name).name)
    return model_from_checkpoint(checkpoint, f"{label} checkpoint ({name})")


@st.cache_data(show_spinner="Scoring the pretrained models on the validation set...")
def validation_scores(task: str, label: str) -> tuple[float, np.ndarray, np.ndarray]:
    result = evaluate(pretrained(task, label).cpu(), SegmentationTask(task), N_VALIDATION)
    return result.dice, result.distances, result.correct


_ui.lab_header(
    "Segmentation: U-Net vs U-Transformer",
    "Transformer in medical image segmentation > U-Transformer",
    "Four striped look-alike blobs sit in a CT-like body. In the long-range task a small key in a random corner "
    "says which stripes to segment (bright: horizontal, dim: vertical). Around each blob both kinds look the same, "
    "so a U-Net whose receptive field cannot reach the key segments **every** blob (Dice 2/3); the U-Transformer's "
    "bottleneck self-attention $A = \\mathrm{softmax}(QK^T/\\sqrt{d_k})$ reads the key from anywhere.",
)
st.button(
    "Lecture figure: ground truth | attention | U-Net | U-Transformer",
    on_click=apply_lecture_figure,
    icon=":material/slideshow:",
)

col_task, col_index, col_opacity = st.columns(3)
task_kind = col_task.selectbox(
    "Task", list(TASK_LABELS), format_func=TASK_LABELS.get, key="seg_task", bind="query-params"
)
index = col_index.slider("Validation image", 0, N_VALIDATION - 1, 3, key="seg_index", bind="query-params")
opacity = col_opacity.slider("Overlay opacity", 0.0, 1.0, 0.55, step=0.05, key="seg_opacity", bind="query-params")
col_row, col_col = st.columns(2)
row = col_row.slider("Picked pixel: row", 0, SIZE - 1, 24, key="seg_row", bind="query-params")
col = col_col.slider("Picked pixel: column", 0, SIZE - 1, 24, key="seg_col", bind="query-params")

task = SegmentationTask(task_kind, SIZE)
sample = generate_sample(task, VALIDATION_SEED, index)
labels = list(PRETRAINED[task_kind])

with _ui.secondary_controls("Models shown"):
    shown = st.multiselect(
        "Models in the panels", labels, default=["U-Net", "U-Transformer"], key=f"seg_shown_{task_kind}"
    )

panels_tab, field_tab, scores_tab, upload_tab, train_tab = st.tabs(
    ["Four panels and attention", "Receptive field", "Scores vs distance", "Your image", "Train live"]
)

with panels_tab, _ui.user_errors():
    analyses = {label: analyse(pretrained(task_kind, label), sample.image) for label in labels}
    ut = analyses["U-Transformer"]
    maps = pixel_attention(ut.trace, row, col, (SIZE, SIZE))
    predictions = {label: analyses[label].prediction for label in shown}
    _ui.show_figure(four_panels(sample.image, sample.mask, maps.mean(0), predictions, (row, col), opacity), "seg_four")
    key_state = "bright: segment horizontal stripes" if sample.key_bright else "dim: segment vertical stripes"
    st.caption(
        f"Key ({key_state}) at rows {sample.key_box[0]}-{sample.key_box[2] - 1}, columns "
        f"{sample.key_box[1]}-{sample.key_box[3] - 1}. Jump to a blob:"
    )
    jump = st.columns(len(sample.objects))
    for i, obj in enumerate(sample.objects):
        center = (int(round(obj.center[0])), int(round(obj.center[1])))
        kind = "target" if obj.is_target else "decoy"
        jump[i].button(
            f"blob {i + 1} ({kind}, {obj.distance:.0f} px from key)",
            key=f"seg_jump_{i}",
            on_click=lambda c=center: st.session_state.update(seg_row=c[0], seg_col=c[1]),
        )
    _ui.show_figure(head_attention(maps, sample.image, (row, col), opacity), "seg_heads")
    n_tokens = ut.trace.bottleneck_shape[0] * ut.trace.bottleneck_shape[1]
    st.caption(
        f"Each map is row q of A for the bottleneck cell under the picked pixel, over the {n_tokens} cells "
        f"(uniform: 1/{n_tokens} = {1 / n_tokens:.4f}). Brighter than uniform is where that head looks; a nearly "
        "uniform row averages the whole image, which already carries the key's brightness. Heads need not agree."
    )
    gate_left, gate_right = st.columns(2)
    with gate_left:
        _ui.show_figure(
            gate_figure(gate_maps(ut.trace), "U-Transformer: cross-attention gates on the skips"), "seg_gates_ut"
        )
    with gate_right:
        if "Attention U-Net" in analyses:
            figure = gate_figure(
                gate_maps(analyses["Attention U-Net"].trace), "Attention U-Net: additive gates (local)"
            )
            _ui.show_figure(figure, "seg_gates_att")
    settings = {"task": task_kind, "image": index, "seed": VALIDATION_SEED, "pixel": [row, col]}
    arrays = {"image": sample.image, "mask": sample.mask, "attention_per_head": maps}
    arrays.update({f"prediction_{label}": a.prediction for label, a in analyses.items()})
    _ui.export_buttons("segmentation_panels", arrays, settings)

with field_tab, _ui.user_errors():
    depth = st.select_slider(
        "U-Net depth (poolings)", options=list(DEPTHS), value=2, key="seg_depth", bind="query-params"
    )
    rf = theoretical_receptive_field(depth)
    if depth == 2:
        unet, source = pretrained(task_kind, "U-Net"), "pretrained"
    else:
        torch.manual_seed(_ui.global_seed())
        unet, source = build_model("unet", depth=depth).eval(), "untrained (only depth 2 is pretrained)"
    left, right = st.columns(2)
    with left:
        saliency = effective_receptive_field(unet, sample.image, row, col)
        title = f"U-Net depth {depth} ({source}): effective RF of pixel ({row}, {col})"
        _ui.show_figure(receptive_field_figure(sample.image, saliency, (row, col), rf, title), "seg_erf_unet")
    with right:
        saliency_ut = effective_receptive_field(pretrained(task_kind, "U-Transformer"), sample.image, row, col)
        title = f"U-Transformer (pretrained): effective RF of pixel ({row}, {col})"
        _ui.show_figure(receptive_field_figure(sample.image, saliency_ut, (row, col), rf, title), "seg_erf_ut")
    st.caption(
        f"The square is the theoretical receptive field of a depth-{depth} U-Net ({rf} px; 20, 52, 116, 236 px for "
        "depth 1-4), the dotted circle its radius. The heat map is |d logit / d input| (Captum saliency): most of "
        "the U-Net's sensitivity sits well inside the square; the U-Transformer's reaches the whole image."
    )

with scores_tab, _ui.user_errors():
    depth = st.session_state.get("seg_depth", 2)
    scores = {label: validation_scores(task_kind, label) for label in labels}
    left, right = st.columns(2)
    with left:
        title = f"Dice on {N_VALIDATION} fixed validation slices ({TASK_LABELS[task_kind]})"
        optimum = 2 / 3 if task_kind == "key" else None
        _ui.show_figure(dice_bars({k: v[0] for k, v in scores.items()}, title, optimum), "seg_dice")
    with right:
        if task_kind == "key":
            results = {label: (d, c) for label, (_, d, c) in scores.items()}
            radius = theoretical_receptive_field(depth) / 2
            _ui.show_figure(accuracy_vs_distance(results, radius), "seg_distance")
        else:
            st.info("In the control task each blob's own stripes decide: its evidence is at distance 0.")
    st.caption(
        "An object is labelled foreground when more than half its pixels are; chance is 0.5. The dashed line "
        "is the theoretical RF radius of the depth chosen in the Receptive field tab."
    )
    _ui.export_buttons(
        "segmentation_scores",
        {
            f"{k}_{name}": v
            for label, (_, d, c) in scores.items()
            for k, v, name in (("distance", d, label), ("correct", c, label))
        },
        {"task": task_kind, "validation_images": N_VALIDATION, "seed": VALIDATION_SEED},
    )

with upload_tab, _ui.user_errors():
    st.markdown(
        "Upload a grayscale PNG or JPEG (colour and transparency are converted; at most 5 MB). It is "
        f"resized to {SIZE}x{SIZE} and scaled to [0, 1]; the models were trained on the synthetic slices only."
    )
    upload = st.file_uploader("Your image", type=["png", "jpg", "jpeg"], key="seg_upload")
    if upload is not None:
        image, notes = load_grayscale_image(upload.getvalue(), SIZE)
        if notes:
            st.info("Converted: " + "; ".join(notes) + ".")
        own = {label: analyse(pretrained(task_kind, label), image) for label in labels}
        own_maps = pixel_attention(own["U-Transformer"].trace, row, col, (SIZE, SIZE))
        own_predictions = {label: own[label].prediction for label in shown}
        figure = four_panels(image, None, own_maps.mean(0), own_predictions, (row, col), opacity, "Your image")
        _ui.show_figure(figure, "seg_upload_panels")
        _ui.show_figure(head_attention(own_maps, image, (row, col), opacity), "seg_upload_heads")

with train_tab:
    st.caption(f"Training runs on **{device_label(_ui.device())}**; a GPU makes it many times faster than a CPU.")
    c1, c2, c3 = st.columns(3)
    arch_label = c1.selectbox("Model", list(LABELS.values()), index=2, key="seg_train_arch", bind="query-params")
    train_depth = c2.select_slider("Depth", options=list(DEPTHS), value=2, key="seg_train_depth", bind="query-params")
    train_task = c3.selectbox(
        "Task", list(TASK_LABELS), format_func=TASK_LABELS.get, key="seg_train_task", bind="query-params"
    )
    c4, c5, c6 = st.columns(3)
    steps = c4.slider("Steps", 20, 2000, 400, step=20, key="seg_train_steps", bind="query-params")
    lr = c5.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 1e-1, 1.0, 10.0],
        value=2e-3,
        key="seg_train_lr",
        bind="query-params",
    )
    batch_size = c6.select_slider(
        "Batch size", options=[4, 8, 16, 32], value=16, key="seg_train_batch", bind="query-params"
    )

    def new_trainer():
        torch.manual_seed(_ui.global_seed())
        architecture = next(k for k, v in LABELS.items() if v == arch_label)
        model = build_model(architecture, depth=train_depth)
        model.check_input(torch.zeros(1, 1, SIZE, SIZE))
        return make_trainer(
            model, SegmentationTask(train_task, SIZE), steps, lr, batch_size, _ui.global_seed(), _ui.device(), 1
        )

    def render(trainer) -> None:
        history = trainer.history
        title = f"{LABELS[trainer.model.architecture]} (depth {trainer.model.depth}) on the {train_task} task"
        curves = history_curves(history, "dice", title, "Dice")
        _ui.show_figure(curves, "seg_train_curves")
        live = analyse(trainer.model, sample.image)
        attention = None
        if live.trace.bottleneck_attention is not None:
            attention = pixel_attention(live.trace, row, col, (SIZE, SIZE)).mean(0)
        figure = four_panels(
            sample.image,
            sample.mask,
            attention,
            {"your model": live.prediction},
            (row, col),
            opacity,
            f"Your model at step {trainer.step} on validation image {index}",
        )
        _ui.show_figure(figure, "seg_train_panels")
        trainer.model.train()

    _ui.live_training("seg", new_trainer, render)
