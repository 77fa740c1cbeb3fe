"""Segmentation lab: U-Net, Attention U-Net, U-Transformer, TransUNet, SETR, Swin-UNet and GLAM on the same images."""

from dataclasses import replace

import numpy as np
import streamlit as st

from models.blocks.unet import DEPTHS, theoretical_receptive_field
from models.data.images import load_grayscale_image
from models.labs.segmentation import analysis
from models.labs.segmentation.architectures import ARCHITECTURES, LABELS, UNET_FAMILY, model_label
from models.labs.segmentation.hybrids.setr import DECODER_LABELS, DECODERS
from models.labs.segmentation.pretrain import checkpoint_path, model_from_checkpoint, pretrained_names
from models.labs.segmentation.spec import SegmentationRun, build_trainer
from models.labs.segmentation.tasks import LABELS as TASK_LABELS
from models.labs.segmentation.tasks import SIZES, LabTask
from pages import _segmentation_views, _ui
from pages._controls import Control, Controls
from viz import segmentation as figures
from viz.training import history_curves

SIZE = 64
N_VALIDATION = 64
LECTURE_IMAGE = 3
LECTURE_MODELS = ["U-Net", "U-Transformer (MHSA only)"]  # its bottleneck attention is the one bright on the key
LECTURE_PIXEL = _segmentation_views.farthest_target(LabTask("striped", SIZE).sample(LECTURE_IMAGE))
RF_RADIUS = theoretical_receptive_field(2) / 2
CONTROLS = Controls(
    [
        Control("seg_task", "Task", "striped", "selectbox", tuple(TASK_LABELS), format=TASK_LABELS.get),
        Control("seg_index", "Validation image", LECTURE_IMAGE, bounds=(0, N_VALIDATION - 1, 1)),
        Control("seg_opacity", "Overlay opacity", 0.55, bounds=(0.0, 1.0, 0.05)),
        Control("seg_row", "Picked pixel: row", LECTURE_PIXEL[0], bounds=(0, SIZE - 1, 1)),
        Control("seg_col", "Picked pixel: column", LECTURE_PIXEL[1], bounds=(0, SIZE - 1, 1)),
        Control("seg_depth", "U-Net depth (poolings)", 2, "select_slider", DEPTHS),
        Control("seg_train_arch", "Model", "utransformer", "selectbox", ARCHITECTURES, format=LABELS.get),
        Control("seg_train_task", "Task", "striped", "selectbox", tuple(TASK_LABELS), format=TASK_LABELS.get),
        Control("seg_train_size", "Image size", SIZE, "select_slider", SIZES),
        Control("seg_train_depth", "Depth (U-Net family)", 2, "select_slider", DEPTHS),
        Control("seg_train_decoder", "SETR decoder", "pup", "selectbox", DECODERS, format=DECODER_LABELS.get),
        Control("seg_train_mhca", "U-Transformer: cross-attention skips", True, "toggle"),
        Control("seg_train_steps", "Steps", 400, bounds=(20, 2000, 20)),
        Control(
            "seg_train_lr",
            "Learning rate",
            2e-3,
            "select_slider",
            (1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 1e-1, 1.0, 10.0),
        ),
        Control("seg_train_batch", "Batch size", 16, "select_slider", (4, 8, 16, 32)),
    ],
    presets={"ground truth | attention | U-Net | U-Transformer": {}},
)


def lecture_figure() -> None:
    """The slide's view (the defaults): the striped key, the target blob farthest from it picked, the U-Net beside
    the U-Transformer whose bottleneck attention finds the key."""
    CONTROLS.apply(next(iter(CONTROLS.presets)))
    st.session_state["seg_shown_striped"] = LECTURE_MODELS


def pretrained(task: str, label: str):
    name = pretrained_names(task)[label]
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, name).name)
    return model_from_checkpoint(checkpoint, f"{label} checkpoint ({name})")


def shipped(task: str) -> dict[str, str]:
    """{label: recipe} of the pretrained models of ``task`` whose file is in assets/."""
    return {
        label: name for label, name in pretrained_names(task).items() if checkpoint_path(_ui.ASSETS, name).is_file()
    }


def checkpoint_meta(task: str, label: str) -> dict:
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, pretrained_names(task)[label]).name)
    return checkpoint.record(f"pretrained {label}", "parameters", "steps", "validation_dice")


@st.cache_data(show_spinner="Scoring the pretrained models on the validation set...")
def validation_scores(task: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    result = analysis.evaluate(pretrained(task, label).cpu(), LabTask(task, SIZE), N_VALIDATION)
    return result.distances, result.correct


_ui.lab_header(
    "Segmentation: U-Net, U-Transformer, TransUNet, SETR, Swin-UNet",
    "Transformer in medical image segmentation > U-Transformer",
    "Four striped look-alike blobs sit in a CT-like body. A small striped key in a random corner says which "
    "stripes to segment: horizontal key, horizontal blobs. Both keys have the same pixels (one is the other "
    "transposed), so no average of the image tells them apart: a model must **look** at the key. A U-Net whose "
    "receptive field cannot reach it segments every blob (Dice 2/3); attention $A = \\mathrm{softmax}(QK^T/"
    "\\sqrt{d_k})$ can read it from anywhere. The control and the brain MRI slices are local tasks.",
)
_segmentation_views.notes_and_caution()
st.button(f"Lecture figure: {next(iter(CONTROLS.presets))}", icon=":material/slideshow:", on_click=lecture_figure)
CONTROLS.init()

task_kind, index, opacity = CONTROLS.row("seg_task", "seg_index", "seg_opacity")
row, col = CONTROLS.row("seg_row", "seg_col")
task = LabTask(task_kind, SIZE)
sample = task.sample(index)
labels = list(shipped(task_kind))
shown_key = f"seg_shown_{task_kind}"
if shown_key not in st.query_params:
    chosen = st.session_state.get(shown_key, LECTURE_MODELS)
    st.session_state[shown_key] = [label for label in chosen if label in labels]
with _ui.secondary_controls("Models shown"):
    shown = st.multiselect("Models side by side", labels, key=shown_key, bind="query-params")
if task_kind == "mri":
    st.info(
        f"Real images: axial slice {sample.slice_index} of the MNI ICBM152 template (held out from training). "
        "Tissue is decided by local intensity and texture, so this is a control where transformers need not win: "
        "compare the Dice and milliseconds columns in **Scores and cost**."
    )

panels_tab, field_tab, scores_tab, upload_tab, train_tab = st.tabs(
    ["Side by side", "Receptive field", "Scores and cost", "Your image", "Train live"]
)

with panels_tab, _ui.user_errors():
    if not shown:
        st.info("Choose two or more models under **Models shown**.")
    else:
        analyses = {label: analysis.analyse(pretrained(task_kind, label), sample.image) for label in shown}
        metas = {label: checkpoint_meta(task_kind, label) for label in shown}
        _segmentation_views.side_by_side(analyses, metas, sample, (row, col), opacity, task, index)
        _segmentation_views.key_mass(metas)

with field_tab, _ui.user_errors():
    depth = CONTROLS.show("seg_depth")
    rf = theoretical_receptive_field(depth)
    if depth == 2:
        unet, source = pretrained(task_kind, "U-Net"), "pretrained"
    else:
        _ui.seed_torch()
        unet, source = (
            SegmentationRun(task, "unet", depth=depth).build().eval(),
            "untrained (only depth 2 is pretrained)",
        )
    other = next((label for label in shown if label not in ("U-Net", "Attention U-Net")), "U-Transformer")
    models = {"unet": (unet, f"U-Net depth {depth} ({source})"), "other": (pretrained(task_kind, other), other)}
    saliency = {key: analysis.effective_receptive_field(m, sample.image, row, col) for key, (m, _) in models.items()}
    log_range = analysis.shared_log_range(list(saliency.values()))
    for column, (key, (_, title)) in zip(st.columns(2), models.items(), strict=True):
        figure = figures.receptive_field_figure(
            sample.image, saliency[key], (row, col), rf, f"{title}: effective RF of pixel ({row}, {col})", log_range
        )
        with column:
            how = "Bright: input pixels that change this pixel's decision; the square: what a U-Net could ever see."
            _ui.show_figure(figure, f"seg_erf_{key}", how)
    st.caption(
        f"The square is the theoretical receptive field of a depth-{depth} U-Net ({rf} px; 20, 52, 116, 236 px for "
        "depth 1-4). The heat map is |d logit / d input| (Captum saliency): the U-Net's sensitivity sits inside the "
        f"square; {other}'s (the first attention model shown) can reach the whole image."
    )

with scores_tab, _ui.user_errors():
    metas = {label: checkpoint_meta(task_kind, label) for label in labels}
    st.markdown(f"**{TASK_LABELS[task_kind]}: every shipped model**")
    _segmentation_views.comparison_table(metas, task.long_range)
    if task.long_range:
        results = {label: validation_scores(task_kind, label) for label in shown}
        how = (
            "Each line: the share of blobs labelled right, by distance from the blob to the key. Left of the dashed "
            "line (the depth-2 U-Net's receptive-field radius) a U-Net can see the key; right of it a U-Net guesses "
            "(0.5), a model that reads the key stays near 1."
        )
        _ui.show_figure(figures.accuracy_vs_distance(results, RF_RADIUS), "seg_distance", how)
        arrays = {f"{k}_{label}": v for label, (d, c) in results.items() for k, v in (("distance", d), ("correct", c))}
        _ui.export_buttons("segmentation_scores", arrays, {"task": task_kind, "validation_images": N_VALIDATION})
    title = f"Validation Dice ({TASK_LABELS[task_kind]})"
    optimum = 2 / 3 if task.long_range else None
    dice = {label: meta["validation_dice"] for label, meta in metas.items()}
    how = "Dice: overlap of prediction and truth (1 perfect). Long-range task: segmenting every blob scores 2/3."
    _ui.show_figure(figures.dice_bars(dice, title, optimum), "seg_dice", how)

with upload_tab, _ui.user_errors():
    st.markdown(
        "Upload a grayscale PNG or JPEG (colour and transparency are converted; at most 5 MB). It is resized to "
        f"{SIZE}x{SIZE} and scaled to [0, 1]; the models were trained on this task's images only."
    )
    upload = st.file_uploader("Your image", type=["png", "jpg", "jpeg"], key="seg_upload")
    if upload is not None and shown:
        image, notes = load_grayscale_image(upload.getvalue(), SIZE)
        if notes:
            st.info("Converted: " + "; ".join(notes) + ".")
        own = {label: analysis.analyse(pretrained(task_kind, label), image) for label in shown}
        attention = next((a for a in own.values() if a.has_attention), None)
        maps = analysis.pixel_attention(attention.trace, row, col, (SIZE, SIZE)) if attention else None
        predictions = {label: a.prediction for label, a in own.items()}
        figure = figures.four_panels(
            image, None, None if maps is None else maps.mean(0), predictions, (row, col), opacity, "Your image"
        )
        how = "Each model's mask on your image; without a ground truth every predicted pixel is drawn green."
        _ui.show_figure(figure, "seg_upload_panels", how)

with train_tab, _ui.user_errors():
    st.caption(f"Training runs on **{_ui.device_name()}**; a GPU makes it many times faster than a CPU.")
    architecture, train_task, train_size = CONTROLS.row("seg_train_arch", "seg_train_task", "seg_train_size")
    train_depth, decoder, mhca = CONTROLS.row("seg_train_depth", "seg_train_decoder", "seg_train_mhca")
    steps, lr, batch_size = CONTROLS.row("seg_train_steps", "seg_train_lr", "seg_train_batch")
    if architecture not in UNET_FAMILY and train_depth != 2:
        st.caption(f"{LABELS[architecture]} has no U-Net depth: the depth setting is ignored.")
    default = SegmentationRun()
    run = SegmentationRun(
        LabTask(train_task, train_size),
        architecture,
        train_depth,
        batch_size,
        replace(default.train, steps=steps, lr=lr, seed=_ui.global_seed()),
        decoder,
        mhca,
    )
    live_sample = run.task.sample(index)

    def render(trainer) -> None:
        title = f"{model_label(trainer.model)} on {TASK_LABELS[train_task]} ({train_size} px)"
        how = "Training Dice per step on fresh images; on the long-range task a plateau near 2/3 means every blob."
        _ui.show_figure(history_curves(trainer.history, "dice", title, "Dice"), "seg_train_curves", how)
        live = analysis.analyse(trainer.model, live_sample.image)
        pixel = (min(row, train_size - 1), min(col, train_size - 1))
        maps = {"your model": (live.prediction, None)}
        if live.has_attention:
            maps["your model"] = (
                live.prediction,
                analysis.pixel_attention(live.trace, *pixel, live_sample.image.shape).mean(0),
            )
        title = f"Your model at step {trainer.step} on validation image {index}"
        figure = figures.side_by_side(live_sample.image, live_sample.mask, maps, pixel, opacity, title)
        _ui.show_figure(figure, "seg_train_panels")

    _ui.live_training("seg", lambda: build_trainer(run, _ui.device()), render)
