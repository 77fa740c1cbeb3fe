"""The registry of labs: the navigation, the home page's lecture map and the browser tests read it.

Only labs that work are registered: a placeholder is not a page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    key: str  # URL path and screenshot name
    path: str  # page file, relative to the app's root
    title: str
    icon: str
    lecture: tuple[str, ...]  # slide titles from LECTURE_OUTLINE that this lab turns into experiments
    summary: str


LABS: list[Lab] = [
    Lab(
        key="rnn",
        path="pages/rnn.py",
        title="Recurrent networks",
        icon=":material/cycle:",
        lecture=(
            "Recurrent Neural Networks (RNNs)",
            "RNNs expressiveness: examples",
            "Toy ex: grammatical analysis",
            "Long Short-Term Memory (LSTM)",
            "Gated Recurrent Unit",
            "Deep RNNs",
            "Bi-directional RNNs",
        ),
        summary="Hidden states, cell states and gates of RNN/LSTM/GRU trained live; 'deep' => adjective with "
        "per-letter attributions; sums; long-range recall.",
    ),
    Lab(
        key="gradients",
        path="pages/gradients.py",
        title="Vanishing and exploding gradients",
        icon=":material/trending_down:",
        lecture=("Back-Propagation Through Time (BPTT)", "Truncated BPTT", "BPTT: Exploding and Vanishing Gradients"),
        summary="||dh_t/dh_k|| against the bound (beta_w beta_h)^(t-k), W's spectrum, clipping, truncated BPTT, "
        "RNN vs LSTM vs GRU.",
    ),
    Lab(
        key="positional",
        path="pages/positional.py",
        title="Positional encoding",
        icon=":material/waves:",
        lecture=("Positional encoding", "Sinusoidal positional encoding", "Input embedding"),
        summary="The sinusoidal P, its similarity K = P P^T, learned vs sinusoidal embeddings trained live, 2D PE.",
    ),
    Lab(
        key="attention",
        path="pages/attention.py",
        title="Attention and transformers",
        icon=":material/hub:",
        lecture=(
            "From sequence to set",
            "Self-attention",
            "Multi-headed attention",
            "Layer normalization",
            "Feed-Forward Network (FFN)",
        ),
        summary="Q, K, V and A = softmax(QK^T/sqrt(d)) step by step, a tiny transformer trained live, PE on/off.",
    ),
    Lab(
        key="vit",
        path="pages/vit.py",
        title="Vision Transformer (ViT)",
        icon=":material/grid_view:",
        lecture=("Vision Image Transformer (ViT)",),
        summary="8x8 digits cut into patches, CLS attention per head and rollout, Captum attribution next to it.",
    ),
    Lab(
        key="segmentation",
        path="pages/segmentation.py",
        title="Segmentation: U-Net vs U-Transformer",
        icon=":material/biotech:",
        lecture=("Transformer in medical image segmentation", "U-Transformer"),
        summary="The slide's four panels, bottleneck attention per pixel, receptive fields, accuracy vs distance.",
    ),
]

LECTURE_OUTLINE: list[tuple[str, tuple[str, ...]]] = [
    (
        "I. a) Vanilla RNNs",
        ("Recurrent Neural Networks (RNNs)", "RNNs expressiveness: examples", "Toy ex: grammatical analysis"),
    ),
    (
        "I. b) RNN training",
        ("Back-Propagation Through Time (BPTT)", "Truncated BPTT", "BPTT: Exploding and Vanishing Gradients"),
    ),
    (
        "I. c) Specific RNN architectures",
        ("Long Short-Term Memory (LSTM)", "Gated Recurrent Unit", "Deep RNNs", "Bi-directional RNNs"),
    ),
    ("I. d) RNN applications", ("RNN applications",)),
    (
        "II. b) Transformer block",
        ("From sequence to set", "Input embedding", "Positional encoding", "Sinusoidal positional encoding"),
    ),
    (
        "II. b) Transformer block",
        ("Self-attention", "Multi-headed attention", "Layer normalization", "Feed-Forward Network (FFN)"),
    ),
    (
        "II. c) Vision and medical images",
        ("Vision Image Transformer (ViT)", "Transformer in medical image segmentation", "U-Transformer"),
    ),
]


def labs_for(slides: tuple[str, ...]) -> list[Lab]:
    """The registered labs that cover any of ``slides``."""
    return [lab for lab in LABS if set(lab.lecture) & set(slides)]
