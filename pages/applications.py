"""RNN applications lab: the lecture's mapping of tasks to shapes, each trained live: a character language model
(one-to-many, many-to-many), an encoder-decoder with and without attention (different lengths), a ConvLSTM on
video (synchronised many-to-many)."""

from dataclasses import asdict

import streamlit as st

from models.core.engine import TrainConfig
from models.data.seq2seq import MAX_DIGITS, DigitWords
from models.data.videos import MAX_FRAMES, PHASES, MovingSquares
from models.labs.applications import video
from models.labs.applications.charlm import LM_CELLS, MIN_TEMPERATURE
from models.labs.applications.spec import CharLMRun, Seq2SeqRun, VideoRun
from pages import _applications_views as views
from pages import _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz import applications as figures

DISPLAY_VIDEOS = 4
CONTROLS = Controls(
    [
        Control("app_lm_cell", "Cell", "lstm", "segmented", LM_CELLS, format=views.NAMES.get),
        Control("app_lm_hidden", "Hidden size H", 128, "select_slider", (16, 32, 64, 128, 256)),
        Control("app_lm_temp", "Temperature", 1.0, bounds=(MIN_TEMPERATURE, 3.0, 0.05)),
        Control("app_lm_n", "Words to sample", 12, bounds=(1, 100, 1)),
        Control("app_lm_prefix", "Start with (optional)", "", "text"),
        Control("app_lm_word", "Your word: its loss per character (letters a-z)", "learning", "text"),
        Control("app_lm_steps", "Training steps", 2000, bounds=(100, 5000, 100)),
        Control("app_lm_lr", "Learning rate", 1e-2, "select_slider", LEARNING_RATES),
        Control("app_s2s_hidden", "Hidden size H", 64, "select_slider", (16, 32, 64, 128)),
        Control("app_s2s_digits", "Longest input in training (digits)", 10, bounds=(2, MAX_DIGITS, 1)),
        Control("app_s2s_text", "Digits in words", "four two seven one nine", "text"),
        Control("app_s2s_decode", "Decoding", "greedy", "radio", ("greedy", "teacher forcing")),
        Control("app_s2s_steps", "Training steps", 1200, bounds=(100, 5000, 100)),
        Control("app_s2s_lr", "Learning rate", 3e-3, "select_slider", LEARNING_RATES),
        Control("app_vid_channels", "Hidden channels", 8, "select_slider", (2, 4, 8, 16)),
        Control("app_vid_frames", "Frames per video", 12, bounds=(4, MAX_FRAMES, 1)),
        Control("app_vid_video", "Video", 1, bounds=(1, DISPLAY_VIDEOS, 1)),
        Control("app_vid_steps", "Training steps", 400, bounds=(50, 3000, 50)),
        Control("app_vid_lr", "Learning rate", 1e-2, "select_slider", LEARNING_RATES),
    ],
    presets={
        "one-to-many: sample words": {"app_lm_temp": 0.8, "app_lm_n": 20},
        "many-to-many: the bottleneck": {"app_s2s_text": "three one four one five nine two six five three"},
        "video: ConvLSTM": {"app_vid_video": 2},
    },
)
HOW_MAPPINGS = (
    "The lecture's table: an RNN maps a sequence x_1..x_T to outputs y_t, and the task decides where inputs enter "
    "and outputs leave. Each panel links to its experiment below; many-to-one is the RNN lab's 'deep' => adjective."
)

_ui.lab_header(
    "RNN applications",
    "I. d) RNN applications: language models, translation and char-nn, video classification (ConvLSTM)",
    "Different tasks, different mappings of the same recurrence $h_t = f(U x_t + W h_{t-1} + b)$: a language model "
    "writes words letter by letter (one-to-many), an encoder-decoder turns spelled-out digits into digits "
    "(many-to-many, different lengths) with and without attention, and a ConvLSTM predicts the next frame of a video "
    "and labels each frame (synchronised many-to-many).",
)
CONTROLS.preset_buttons("app")
CONTROLS.init()
_ui.show_figure(figures.mappings_diagram(), "app_mappings", HOW_MAPPINGS)
links = st.columns(4)
links[0].markdown("[One-to-many: the language model](#language-model)")
links[1].markdown("[Many-to-one: the RNN lab](rnn)")
links[2].markdown("[Many-to-many: the encoder-decoder](#encoder-decoder)")
links[3].markdown("[Synced many-to-many: the ConvLSTM](#convlstm)")


def train_config(prefix: str, clip: float = 1.0, schedule: str = "cosine") -> TrainConfig:
    steps, lr = (st.session_state[f"{prefix}_{name}"] for name in ("steps", "lr"))
    return TrainConfig(steps, lr, clip_norm=clip, seed=_ui.global_seed(), schedule=schedule)


st.header("One-to-many and many-to-many: a character language model", anchor="language-model")
st.markdown(
    "Trained many-to-many: reading '. d e e p' it predicts 'd e e p .' one step ahead, p(x_{t+1} | x_1..x_t) = "
    "softmax(V h_t + b_y), on the words of the RNN lab's lexicon. Sampled one-to-many: from the start token alone it "
    "draws a letter, reads it back, and goes on until it draws the end token."
)
cell, hidden = CONTROLS.row("app_lm_cell", "app_lm_hidden")
with _ui.secondary_controls("Language model: training settings"):
    CONTROLS.row("app_lm_steps", "app_lm_lr")
with _ui.user_errors():
    lm_run = CharLMRun(cell, hidden, train=train_config("app_lm"))
    views.language_model(CONTROLS, lm_run, views.current_models("app_lm", lm_run))

st.header("Many-to-many, different lengths: an encoder-decoder", anchor="encoder-decoder")
st.markdown(
    "Spelled-out digits, read letter by letter, written as digits ('four two seven' -> 427). The encoder GRU reads "
    "the input into states h_1..h_S. The **plain** decoder starts from h_S alone; **with attention** every decoder "
    "state s_t also reads c_t = sum_j a_tj h_j, a_t = softmax(q(s_t) k(h_j)^T / sqrt(d)): what transformers "
    "generalise. Both are trained side by side from the same seed."
)
s2s_hidden, digits = CONTROLS.row("app_s2s_hidden", "app_s2s_digits")
with _ui.secondary_controls("Encoder-decoder: training settings"):
    CONTROLS.row("app_s2s_steps", "app_s2s_lr")
with _ui.user_errors():
    s2s_run = Seq2SeqRun(
        compare=True, hidden_size=s2s_hidden, task=DigitWords(1, digits), train=train_config("app_s2s")
    )
    views.seq2seq_view(CONTROLS, s2s_run, views.current_models("app_s2s", s2s_run))

HOW_FRAMES = (
    "Left: frame t and the true frame t+1. Then each model's predicted probability of every pixel at t+1. Copying "
    "frame t is right wherever the square overlaps itself; the ConvLSTM, which carries the motion in its states, "
    "should move the square; the per-frame CNN sees one frame and cannot know which way it goes."
)
HOW_STATES = (
    "The ConvLSTM's states at frame t, one column per channel: H_t (top) is what the heads read, C_t (bottom) the "
    "memory. Scrub through the frames: channels that follow the square, and the trail it leaves in C_t, are the "
    "velocity the model remembers."
)
HOW_PHASES = (
    "The phase of each frame (how often the square has bounced so far) against each model's prediction. It depends "
    "on the past, not on the frame: the ConvLSTM can count bounces; the per-frame CNN can only guess from where the "
    "square is."
)


def video_view(run: VideoRun, models: dict) -> None:
    """ConvLSTM against the per-frame CNN and copying the last frame: frames, states, phases, test scores."""
    st.info(views.describe(models) + ".", icon=":material/memory:")
    videos, phases = run.task.display_batch(DISPLAY_VIDEOS)
    frames = run.task.frames
    index = CONTROLS.show("app_vid_video") - 1
    st.session_state["app_vid_t"] = min(st.session_state.get("app_vid_t", 1), frames - 1)
    t = st.slider("Frame t (the models predict frame t+1)", 1, frames - 1, key="app_vid_t")
    view = video.video_view({name: model for name, (model, _, _, _) in models.items()}, videos, phases, index)
    panels = {f"frame {t}": view.frames[t - 1], f"truth: frame {t + 1}": view.frames[t]}
    for name, predicted in view.next_frame.items():
        panels[f"{views.NAMES[name]}: p(frame {t + 1})"] = predicted[t - 1]
    panels[f"copy last: frame {t}"] = view.frames[t - 1]
    _ui.show_figure(
        figures.frame_panels(panels, f"Video {index + 1}: predicting frame {t + 1}"), "app_vid_panels", HOW_FRAMES
    )
    if view.hidden is not None:
        title = f"ConvLSTM hidden maps H_t and cell maps C_t at frame {t}"
        _ui.show_figure(figures.state_maps(view.hidden[t - 1], view.cell[t - 1], title), "app_vid_states", HOW_STATES)
    predicted = {views.NAMES[name]: phase for name, phase in view.phase.items()}
    figure = figures.phase_timeline(view.phases, predicted, PHASES, f"Video {index + 1}: phase per frame")
    _ui.show_figure(figure, "app_vid_phases", HOW_PHASES)
    scores = {views.NAMES[name]: s for name, (_, _, s, _) in models.items()}
    ious = {name: s["iou"] for name, s in scores.items()} | {
        "copy last frame": next(iter(scores.values()))["copy_last_iou"]
    }
    majority = float(run.task.phase_shares().max())
    accuracy = {name: s["accuracy"] for name, s in scores.items()} | {"most frequent phase": majority}
    s1, s2 = st.columns(2)
    with s1:
        _ui.show_figure(figures.value_bars(ious, "Test: next-frame IoU", "IoU", ".3f", 1.05), "app_vid_iou")
    with s2:
        _ui.show_figure(figures.value_bars(accuracy, "Test: phase accuracy", "accuracy", ".3f", 1.05), "app_vid_acc")
    st.caption(
        "**How to read this.** Test scores on 512 videos the models never saw. The lecture's claim for synchronised "
        "many-to-many: with its memory the ConvLSTM should beat copying the last frame (IoU) and the memoryless CNN "
        "on both."
    )
    arrays = {"video": view.frames, "phases": view.phases} | {f"next_frame_{n}": p for n, p in view.next_frame.items()}
    _ui.export_buttons("app_vid", arrays, {"video": index + 1, "frame": t, **asdict(run.task)})
    if (figure := views.pretrained_curves(models, "Pretraining: loss and phase accuracy", "accuracy")) is not None:
        how = "The memoryless CNN's phase accuracy stalls near the most frequent phase; the ConvLSTM's keeps rising."
        _ui.show_figure(figure, "app_vid_curves", how)
    views.live("app_vid", run, "ConvLSTM vs per-frame CNN, trained live", "accuracy")


st.header("Synchronised many-to-many: a ConvLSTM on video", anchor="convlstm")
st.markdown(
    "Videos of a square moving in straight lines and bouncing off the walls (16x16 frames). At every frame the model "
    "predicts the next frame and labels the frame's phase (no bounce yet, one, two or more), as surgical phase "
    "recognition labels every frame of an operation. The ConvLSTM of Shi et al. (2015), eq. (3), with its peephole "
    "terms (* a convolution, o the Hadamard product):"
)
st.latex(
    r"""\begin{aligned}
i_t &= \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \circ C_{t-1} + b_i)\\
f_t &= \sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \circ C_{t-1} + b_f)\\
C_t &= f_t \circ C_{t-1} + i_t \circ \tanh(W_{xc} * X_t + W_{hc} * H_{t-1} + b_c)\\
o_t &= \sigma(W_{xo} * X_t + W_{ho} * H_{t-1} + W_{co} \circ C_t + b_o)\\
H_t &= o_t \circ \tanh(C_t)
\end{aligned}"""
)
channels, frames = CONTROLS.row("app_vid_channels", "app_vid_frames")
with _ui.secondary_controls("ConvLSTM: training settings"):
    CONTROLS.row("app_vid_steps", "app_vid_lr")
with _ui.user_errors():
    task = MovingSquares(frames=frames)
    vid_run = VideoRun(
        compare=True, hidden_channels=channels, task=task, train=train_config("app_vid", schedule="constant")
    )
    models = views.current_models("app_vid", vid_run)
    video_view(vid_run, models)
