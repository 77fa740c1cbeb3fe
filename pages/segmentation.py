"""Segmentation lab: U-Net vs U-Transformer on CT-like slices where only distant evidence decides."""

from dataclasses import replace

import numpy as np
import streamlit as st

from models.blocks.unet import DEPTHS, theoretical_receptive_field
from models.data.ct_slices import SegmentationTask, generate_sample
from models.data.images import load_grayscale_image
from models.labs.segmentation import analysis
from models.labs.segmentation.models import ARCHITECTURES, LABELS, build_model
from models.labs.segmentation.pretrain import checkpoint_path, model_from_checkpoint, pretrained_names
from models.labs.segmentation.spec import SegmentationRun, build_trainer
from pages import _segmentation_views, _ui
from pages._controls import Control, Controls
from viz import segmentation as figures
from viz.training import history_curves

SIZE = 64
N_VALIDATION = 64
TASK_LABELS = {"key": "Long range: key in the corner", "local": "Control: local texture decides"}
LECTURE_IMAGE = 3
UTRANSFORMER_NOTE = (
    "- **Bottleneck (MHSA):** the coarsest map's pixels are the tokens (16 x 16 = 256 for a 64 x 64 image at depth "
    "2), with a 2D sinusoidal positional encoding P. It is a pre-LN residual block: $X' = X + \\mathrm{MHA}(LN(X) + "
    "P)$, 4 heads, each $A_h = \\mathrm{softmax}(Q_h K_h^T / \\sqrt{d_{head}})$, the heads concatenated through "
    "$W_o$. With $W_o = 0$ it is the plain U-Net.\n"
    "- **Skips (MHCA):** at every level but the finest, queries and keys come from the decoder map Y (after a 1x1 "
    "Conv-BN-ReLU), values from the skip map S, brought to Y's size by a 2x2 stride-2 Conv-BN-ReLU; the attention's "
    "output passes a 1x1 Conv-BN-sigmoid and a x2 bilinear upsampling and gates S element-wise; the gated S is "
    "concatenated with the upsampled Y.\n"
    "- **Not as in the paper:** the finest skip (64 x 64, its attention over the 32 x 32 grid would be 1,024 x "
    "1,024 per head) is passed ungated, to keep training live on a CPU."
)
CONTROLS = Controls(
    [
        Control("seg_task", "Task", "key", "selectbox", tuple(TASK_LABELS), format=TASK_LABELS.get),
        Control("seg_index", "Validation image", LECTURE_IMAGE, bounds=(0, N_VALIDATION - 1, 1)),
        Control("seg_opacity", "Overlay opacity", 0.55, bounds=(0.0, 1.0, 0.05)),
        Control("seg_row", "Picked pixel: row", 24, bounds=(0, SIZE - 1, 1)),
        Control("seg_col", "Picked pixel: column", 24, bounds=(0, SIZE - 1, 1)),
        Control("seg_depth", "U-Net depth (poolings)", 2, "select_slider", DEPTHS),
        Control("seg_train_arch", "Model", "utransformer", "selectbox", ARCHITECTURES, format=LABELS.get),
        Control("seg_train_depth", "Depth", 2, "select_slider", DEPTHS),
        Control("seg_train_task", "Task", "key", "selectbox", tuple(TASK_LABELS), format=TASK_LABELS.get),
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


def pick_lecture_pixel() -> None:
    """The lecture figure picks a pixel at the centre of a target blob of its image."""
    sample = generate_sample(SegmentationTask("key", SIZE), analysis.VALIDATION_SEED, LECTURE_IMAGE)
    target = next(o for o in sample.objects if o.is_target)
    st.session_state.update(seg_row=int(round(target.center[0])), seg_col=int(round(target.center[1])))


def pretrained(task: str, label: str):
    name = pretrained_names(task)[label]
    checkpoint = _ui.cached_checkpoint(checkpoint_path(_ui.ASSETS, name).name)
    return model_from_checkpoint(checkpoint, f"{label} checkpoint ({name})")


@st.cache_data(show_spinner="Scoring the pretrained models on the validation set...")
def validation_scores(task: str, label: str) -> tuple[float, np.ndarray, np.ndarray]:
    result = analysis.evaluate(pretrained(task, label).cpu(), SegmentationTask(task), N_VALIDATION)
    return result.dice, result.distances, result.correct


_ui.lab_header(
    "Segmentation: U-Net vs U-Transformer",
    "Transformer in medical image segmentation > U-Transformer",
    "Four striped look-alike blobs sit in a CT-like body. In the long-range task a small key in a random corner "
    "says which stripes to segment (bright: horizontal, dim: vertical). Around each blob both kinds look the same, "
    "so a U-Net whose receptive field cannot reach the key segments **every** blob (Dice 2/3); the U-Transformer's "
    "bottleneck self-attention $A = \\mathrm{softmax}(QK^T/\\sqrt{d_k})$ reads the key from anywhere.",
)
with st.expander("What the U-Transformer here computes (and where it departs from the paper)"):
    st.markdown(UTRANSFORMER_NOTE)
name = next(iter(CONTROLS.presets))
st.button(
    f"Lecture figure: {name}",
    icon=":material/slideshow:",
    on_click=lambda: (CONTROLS.apply(name), pick_lecture_pixel()),
)
CONTROLS.init()

task_kind, index, opacity = CONTROLS.row("seg_task", "seg_index", "seg_opacity")
row, col = CONTROLS.row("seg_row", "seg_col")
sample = generate_sample(SegmentationTask(task_kind, SIZE), analysis.VALIDATION_SEED, index)
labels = list(pretrained_names(task_kind))
with _ui.secondary_controls("Models shown"):
    shown = st.multiselect(
        "Models in the panels", labels, default=["U-Net", "U-Transformer"], key=f"seg_shown_{task_kind}"
    )

panels_tab, field_tab, scores_tab, upload_tab, train_tab = st.tabs(
    ["Four panels and attention", "Receptive field", "Scores vs distance", "Your image", "Train live"]
)

with panels_tab, _ui.user_errors():
    _segmentation_views.panels(
        {label: pretrained(task_kind, label) for label in labels}, sample, shown, (row, col), opacity, task_kind, index
    )

with field_tab, _ui.user_errors():
    depth = CONTROLS.show("seg_depth")
    rf = theoretical_receptive_field(depth)
    if depth == 2:
        unet, source = pretrained(task_kind, "U-Net"), "pretrained"
    else:
        _ui.seed_torch()
        unet, source = build_model("unet", depth=depth).eval(), "untrained (only depth 2 is pretrained)"
    models = {
        "unet": (unet, f"U-Net depth {depth} ({source})"),
        "utransformer": (pretrained(task_kind, "U-Transformer"), "U-Transformer (pretrained)"),
    }
    saliency = {
        key: analysis.effective_receptive_field(model, sample.image, row, col) for key, (model, _) in models.items()
    }
    log_range = analysis.shared_log_range(list(saliency.values()))
    for column, (key, (_, title)) in zip(st.columns(2), models.items(), strict=True):
        title = f"{title}: effective RF of pixel ({row}, {col})"
        figure = figures.receptive_field_figure(sample.image, saliency[key], (row, col), rf, title, log_range)
        with column:
            how = "Bright: input pixels that change this pixel's decision; the square: what a U-Net could ever see."
            _ui.show_figure(figure, f"seg_erf_{key}", how)
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
        how = "Dice: overlap of prediction and truth (1 perfect). 2/3: what segmenting every blob scores."
        _ui.show_figure(figures.dice_bars({k: v[0] for k, v in scores.items()}, title, optimum), "seg_dice", how)
    with right:
        if task_kind == "key":
            results = {label: (d, c) for label, (_, d, c) in scores.items()}
            radius = theoretical_receptive_field(depth) / 2
            how = "Beyond the U-Net's receptive-field radius (dashed) it is at chance; the U-Transformer is not."
            _ui.show_figure(figures.accuracy_vs_distance(results, radius), "seg_distance", how)
        else:
            st.info("In the control task each blob's own stripes decide: its evidence is at distance 0.")
    st.caption(
        "An object is labelled foreground when more than half its pixels are; chance is 0.5. The dashed line "
        "is the theoretical RF radius of the depth chosen in the Receptive field tab."
    )
    arrays = {f"{k}_{label}": v for label, (_, d, c) in scores.items() for k, v in (("distance", d), ("correct", c))}
    settings = {"task": task_kind, "validation_images": N_VALIDATION, "seed": analysis.VALIDATION_SEED}
    _ui.export_buttons("segmentation_scores", arrays, settings)

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
        own = {label: analysis.analyse(pretrained(task_kind, label), image) for label in labels}
        own_maps = analysis.pixel_attention(own["U-Transformer"].trace, row, col, (SIZE, SIZE))
        own_predictions = {label: own[label].prediction for label in shown}
        figure = figures.four_panels(image, None, own_maps.mean(0), own_predictions, (row, col), opacity, "Your image")
        _ui.show_figure(figure, "seg_upload_panels")
        _ui.show_figure(figures.head_attention(own_maps, image, (row, col)), "seg_upload_heads")

with train_tab, _ui.user_errors():
    st.caption(f"Training runs on **{_ui.device_name()}**; a GPU makes it many times faster than a CPU.")
    architecture, train_depth, train_task = CONTROLS.row("seg_train_arch", "seg_train_depth", "seg_train_task")
    steps, lr, batch_size = CONTROLS.row("seg_train_steps", "seg_train_lr", "seg_train_batch")
    default = SegmentationRun()
    run = SegmentationRun(
        SegmentationTask(train_task, SIZE),
        architecture,
        train_depth,
        batch_size,
        replace(default.train, steps=steps, lr=lr, seed=_ui.global_seed()),
    )

    def render(trainer) -> None:
        title = f"{LABELS[architecture]} (depth {train_depth}) on the {train_task} task"
        _ui.show_figure(history_curves(trainer.history, "dice", title, "Dice"), "seg_train_curves")
        live = analysis.analyse(trainer.model, sample.image)
        attention = None
        if live.trace.bottleneck_attention is not None:
            attention = analysis.pixel_attention(live.trace, row, col, (SIZE, SIZE)).mean(0)
        title = f"Your model at step {trainer.step} on validation image {index}"
        figure = figures.four_panels(
            sample.image, sample.mask, attention, {"your model": live.prediction}, (row, col), opacity, title
        )
        _ui.show_figure(figure, "seg_train_panels")

    _ui.live_training("seg", lambda: build_trainer(run, _ui.device()), render)
