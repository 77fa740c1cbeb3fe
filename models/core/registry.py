"""The one registry of labs: the app's navigation and home page, ``make pretrain`` and the browser tests read it.

A lab's key names everything of it: its page ``pages/<key>.py``, its package ``models.labs.<key>`` (whose
``pretrain`` module writes its checkpoints to ``assets/`` when ``checkpoints`` is True), its viz module
``viz.<key>`` and its URL path. Only labs that work are registered: a placeholder is not a lab.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    key: str
    title: str
    icon: str  # a Material icon name, as the app's navigation writes it
    lecture: tuple[str, ...]  # slide titles from LECTURE_OUTLINE that this lab turns into experiments
    summary: str
    checkpoints: bool  # whether `make pretrain` trains its defaults into assets/

    @property
    def page(self) -> str:
        return f"pages/{self.key}.py"

    @property
    def package(self) -> str:
        return f"models.labs.{self.key}"


LABS: tuple[Lab, ...] = (
    Lab(
        key="rnn",
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
        checkpoints=True,
    ),
    Lab(
        key="gradients",
        title="Vanishing and exploding gradients",
        icon=":material/trending_down:",
        lecture=("Back-Propagation Through Time (BPTT)", "Truncated BPTT", "BPTT: Exploding and Vanishing Gradients"),
        summary="||dh_t/dh_k|| against the bound (beta_w beta_h)^(t-k), W's spectrum, clipping, truncated BPTT, "
        "RNN vs LSTM vs GRU.",
        checkpoints=True,
    ),
    Lab(
        key="applications",
        title="RNN applications",
        icon=":material/apps:",
        lecture=("RNN applications", "Video classification"),
        summary="The four mappings trained live: a character language model sampling words, an encoder-decoder with "
        "and without attention (the bottleneck), a ConvLSTM on moving squares against two baselines.",
        checkpoints=True,
    ),
    Lab(
        key="positional",
        title="Positional encoding",
        icon=":material/waves:",
        lecture=("Positional encoding", "Sinusoidal positional encoding", "Input embedding"),
        summary="The sinusoidal P, its similarity K = P P^T, learned vs sinusoidal embeddings trained live, 2D PE.",
        checkpoints=True,
    ),
    Lab(
        key="attention",
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
        checkpoints=True,
    ),
    Lab(
        key="vit",
        title="Vision Transformer (ViT)",
        icon=":material/grid_view:",
        lecture=("Vision Image Transformer (ViT)",),
        summary="8x8 digits cut into patches, CLS attention per head and rollout, Captum attribution next to it.",
        checkpoints=True,
    ),
    Lab(
        key="segmentation",
        title="Segmentation: U-Net, U-Transformer, TransUNet, SETR, Swin-UNet",
        icon=":material/biotech:",
        lecture=(
            "Transformer in medical image segmentation",
            "U-Transformer",
            "Hybrid conv / transformers architectures",
        ),
        summary="Seven architectures side by side on the same images: attention per pixel, receptive fields, accuracy "
        "vs distance, cost, and real brain MRI slices.",
        checkpoints=True,
    ),
    Lab(
        key="highres",
        title="Attention at high resolution",
        icon=":material/grid_on:",
        lecture=(
            "Full transformers in segmentation",
            "3D medical image segmentation",
            "nn-Former",
            "CoTr",
            "GLAM",
            "FINE",
        ),
        summary="Swin's windows and shifted windows, GLAM's global tokens, FINE's memory, deformable attention: what "
        "each token can reach, a long-range task trained side by side, O(N^2) against the formulas, the 180 GB U-Net.",
        checkpoints=True,
    ),
)


@dataclass(frozen=True)
class Section:
    """A section of the lecture's outline: its slides, and what is coming for those no lab covers yet."""

    title: str
    slides: tuple[str, ...]
    coming: str = ""


LECTURE_OUTLINE: tuple[Section, ...] = (
    Section(
        "I. a) Vanilla RNNs",
        ("Recurrent Neural Networks (RNNs)", "RNNs expressiveness: examples", "Toy ex: grammatical analysis"),
    ),
    Section(
        "I. b) RNN training",
        ("Back-Propagation Through Time (BPTT)", "Truncated BPTT", "BPTT: Exploding and Vanishing Gradients"),
    ),
    Section(
        "I. c) RNN architectures",
        ("Long Short-Term Memory (LSTM)", "Gated Recurrent Unit", "Deep RNNs", "Bi-directional RNNs"),
    ),
    Section(
        "I. d) RNN applications",
        ("RNN applications", "Medical Visual Question answering (MVQA)", "Image Captioning", "Video classification"),
        "images in, words out (medical VQA, report generation) need an image encoder beside the RNN: not yet a lab",
    ),
    Section(
        "II. a) Context",
        ("Transformers everywhere since 2017", "Transformer in medical image analysis"),
        "no experiment: the slides survey where transformers are used",
    ),
    Section(
        "II. b) Transformer block: tokens and positions",
        ("From sequence to set", "Input embedding", "Positional encoding", "Sinusoidal positional encoding"),
    ),
    Section(
        "II. b) Transformer block: attention, normalisation, FFN",
        ("Self-attention", "Multi-headed attention", "Layer normalization", "Feed-Forward Network (FFN)"),
    ),
    Section(
        "II. c) Vision and medical image segmentation",
        ("Vision Image Transformer (ViT)", "Transformer in medical image segmentation", "U-Transformer"),
    ),
    Section(
        "II. c) Hybrid transformers for segmentation",
        ("Hybrid conv / transformers architectures",),
    ),
    Section(
        "II. c) Full transformers and 3D images: attention at high resolution",
        (
            "Full transformers in segmentation",
            "3D medical image segmentation",
            "nn-Former",
            "CoTr",
            "GLAM",
            "FINE",
        ),
    ),
)


def lab(key: str) -> Lab:
    """The registered lab ``key``; a ValueError names the known ones."""
    for entry in LABS:
        if entry.key == key:
            return entry
    raise ValueError(f"no lab {key!r}; the labs are {[entry.key for entry in LABS]}")


def labs_for(slides: tuple[str, ...]) -> list[Lab]:
    """The registered labs that cover any of ``slides``."""
    return [entry for entry in LABS if set(entry.lecture) & set(slides)]
