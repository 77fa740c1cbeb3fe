"""High-resolution attention lab: Swin's (shifted) windows, GLAM's global tokens, FINE's memory, deformable
attention and nnFormer against full attention's O(N^2): what each reaches, what each costs, trained side by side."""

from dataclasses import replace

import streamlit as st

from models.labs.highres import analysis
from models.labs.highres.models import LABELS, MAP_CHOICES, MECHANISMS, WINDOW_CHOICES
from models.labs.highres.spec import HighResRun, build_comparison, comparison_runs, default_train
from pages import _highres_views as views
from pages import _ui
from pages._controls import Control, Controls
from viz import highres as figures

TRAIN_RATES = (1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 1e-1, 1.0, 10.0)
PRECISION = {2: "float16 (2 bytes)", 4: "float32 (4 bytes)"}
STEP_CHOICES = (0, 50, 100, 200, 300, 400, 600, 800, 1000)  # 0: each mechanism to its plateau


def step_label(steps: int) -> str:
    return str(steps) if steps else "to plateau"


def clamp_token() -> None:
    """Keep the picked token on the map when the map shrinks."""
    last = st.session_state["hr_map"] - 1
    st.session_state.update(hr_row=min(st.session_state["hr_row"], last), hr_col=min(st.session_state["hr_col"], last))


CONTROLS = Controls(
    [
        Control("hr_map", "Map (tokens a side)", 16, "select_slider", MAP_CHOICES, on_change=clamp_token),
        Control("hr_window", "Window size M", 4, "select_slider", WINDOW_CHOICES),
        Control("hr_row", "Picked token: row", 1, bounds=(0, 31, 1)),
        Control("hr_col", "Picked token: column", 1, bounds=(0, 31, 1)),
        Control("hr_depth", "Blocks L", 2, bounds=(1, views.MAX_REACH_DEPTH, 1)),
        Control("hr_example", "Test map", 0, bounds=(0, 31, 1)),
        Control("hr_g", "Global tokens per window G", 1, "select_slider", (1, 2, 4)),
        Control("hr_train_depth", "Blocks", 2, bounds=(1, 6, 1)),
        Control("hr_train_steps", "Steps", 0, "select_slider", STEP_CHOICES, format=step_label),
        Control("hr_train_lr", "Learning rate", 2e-3, "select_slider", TRAIN_RATES),
        Control("hr_train_batch", "Batch size", 8, "select_slider", (4, 8, 16, 32)),
        Control("hr_budget", "Memory for attention weights (MB)", 64, "select_slider", (16, 64, 256, 1024, 4096)),
        Control("hr_batch", "Batch", 1, "select_slider", (1, 2, 4, 8)),
        Control("hr_side", "Your map side (tokens)", 128, "number", bounds=(1, 100_000, 1)),
        Control("hr_unet_d", "Depth (voxels)", 256, "number", bounds=(1, 4096, 1)),
        Control("hr_unet_h", "Height (voxels)", 512, "number", bounds=(1, 4096, 1)),
        Control("hr_unet_w", "Width (voxels)", 512, "number", bounds=(1, 4096, 1)),
        Control("hr_unet_base", "Channels at level 0", 32, "select_slider", (8, 16, 32, 64)),
        Control("hr_unet_levels", "Levels", 4, bounds=(1, 6, 1)),
        Control("hr_unet_bytes", "Precision", 4, "selectbox", (2, 4), format=PRECISION.get),
        Control("hr_unet_batch", "Volumes per batch", 1, bounds=(1, 8, 1)),
        Control("hr_fine_image", "Image (tokens a side)", 16, "select_slider", (8, 16, 24, 32)),
        Control("hr_fine_crop", "Crop (tokens a side)", 8, "select_slider", (4, 6, 8, 12)),
        Control("hr_fine_grid", "Memory grid (cells a side)", 4, "select_slider", (2, 4, 8)),
        Control("hr_fine_mix", "Memory cells attend to each other", True, "toggle"),
        Control("hr_nn_map", "Input map (tokens a side)", 32, "select_slider", (16, 32, 64, 128)),
        Control("hr_nn_window", "Window M", 4, "select_slider", (2, 4, 8)),
        Control("hr_nn_stages", "Stages", 4, bounds=(1, 5, 1)),
    ],
    presets={
        "Swin: windows at layer l, shifted at l+1": {"hr_map": 8, "hr_window": 4, "hr_row": 1, "hr_col": 5},
        "reach of W-MSA, W + SW, GLAM at depth 4": {"hr_depth": 4},
        "180 GB for a U-Net on 512x512x256": {},
    },
)

_ui.lab_header(
    "Attention at high resolution",
    "Full transformers in segmentation > 3D medical image segmentation > nn-Former, CoTr, GLAM, FINE",
    "Self-attention over N tokens costs $O(N^2)$: impossible for large images and 3D volumes. Swin attends inside "
    "M x M windows, $\\mathrm{softmax}(QK^T/\\sqrt{d} + B)V$ with a learned relative position bias B, and shifts the "
    "windows by M/2 every other layer so information crosses their borders; GLAM adds G global tokens per window "
    "that attend to each other (G-MSA); FINE carries memory tokens across crops; CoTr's deformable attention "
    "samples K points per query. On a long-range task, *each token's label is its bit XOR a key in a random "
    "corner*, they differ as the lecture says.",
)
CONTROLS.preset_buttons("hr", label="Lecture figure")
CONTROLS.init()
n, m, row, col = CONTROLS.row("hr_map", "hr_window", "hr_row", "hr_col")
token, seed = (row, col), _ui.global_seed()

tabs = st.tabs(["Windows", "Reach", "Trained side by side", "Cost and memory", "GLAM", "FINE memory", "nnFormer"])
windows_tab, reach_tab, compare_tab, cost_tab, glam_tab, fine_tab, nn_tab = tabs

with windows_tab, _ui.user_errors():
    layout = analysis.window_layout(n, m, token)
    how = (
        "The slide's figure: at layer l each token attends in its M x M window (blue dots); at layer l+1 the "
        "windows move by s = M/2 (orange dots), so tokens near a border now share a window with the neighbours "
        "they could not see. Swin computes this by rolling the map by (-s, -s): the 9 labelled regions fill "
        "whole windows, and the mask adds -100 between tokens of different regions (right: the picked token's row)."
    )
    _ui.show_figure(figures.window_figure(layout, token, m), "hr_windows", how)
    st.markdown(
        f"The relative position bias B is a learned table of $(2M-1)^2 = {(2 * m - 1) ** 2}$ entries per head; the "
        "pair (i, j) of a window reads entry $(dy + M - 1)(2M - 1) + (dx + M - 1)$, where (dy, dx) is i's position "
        "minus j's. The -100 shift mask is added to the window-by-window block only."
    )
    arrays = {k: getattr(layout, k) for k in ("windows", "groups", "rolled_regions", "allowed", "mask")}
    _ui.export_buttons("highres_windows", arrays, {"map": n, "window": m, "token": list(token)}, ("mask", layout.mask))

with reach_tab, _ui.user_errors():
    views.reach_view(n, m, CONTROLS.requested("hr_g"), token, CONTROLS.row("hr_depth")[0], seed)

with compare_tab, _ui.user_errors():
    st.markdown(
        "Pretrained on 16x16 tokens, M = 4, two blocks, G = 1, seed 0 (at once; the live run below trains yours). "
        "A token that the key cannot reach can only guess: accuracy $\\le 1/2 + 1/2 \\times$ reach."
    )
    views.comparison_view(CONTROLS.row("hr_example")[0])
    st.subheader("Train them yourself, side by side")
    st.caption(
        f"On the map and window above ({n}x{n}, M = {m}) and G from the GLAM tab; training runs on "
        f"**{_ui.device_name()}**. By default each mechanism trains to its plateau at 16x16 (W-MSA 100 steps, W + SW, "
        "full and deformable 150, GLAM 400): under a minute on 2 CPU cores."
    )
    mechanisms = st.multiselect(
        "Mechanisms", MECHANISMS, default=list(MECHANISMS), format_func=LABELS.get, key="hr_train_mechs"
    )
    depth, steps, lr, batch_size = CONTROLS.row("hr_train_depth", "hr_train_steps", "hr_train_lr", "hr_train_batch")
    train = replace(default_train(), lr=lr, seed=seed)
    g = CONTROLS.requested("hr_g")
    run = HighResRun(mechanisms[0] if mechanisms else "full", depth, m, g, n, batch_size=batch_size, train=train)
    comparison_runs(run, tuple(mechanisms), steps)  # refuse bad settings before offering Start
    views.live_comparison(lambda: build_comparison(run, tuple(mechanisms), _ui.device(), steps or None))

with cost_tab, _ui.user_errors():
    budget, batch, side = CONTROLS.row("hr_budget", "hr_batch", "hr_side")
    views.cost_view(budget, batch, side, m)
    st.subheader("The lecture's 180 GB: a 3D U-Net on 512x512x256")
    shape = tuple(CONTROLS.row("hr_unet_h", "hr_unet_w", "hr_unet_d"))
    base, levels, precision, volumes = CONTROLS.row("hr_unet_base", "hr_unet_levels", "hr_unet_bytes", "hr_unet_batch")
    views.unet_view(shape, base, levels, precision, volumes)

with glam_tab, _ui.user_errors():
    views.glam_view(CONTROLS.row("hr_g")[0], token, st.session_state["hr_example"])

with fine_tab, _ui.user_errors():
    image, crop, grid, mix = CONTROLS.row("hr_fine_image", "hr_fine_crop", "hr_fine_grid", "hr_fine_mix")
    views.fine_view(image, crop, grid, mix, seed)

with nn_tab, _ui.user_errors():
    views.nnformer_view(*CONTROLS.row("hr_nn_map", "hr_nn_window", "hr_nn_stages"))
