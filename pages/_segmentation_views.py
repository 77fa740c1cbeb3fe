"""The segmentation lab's views: the architectures side by side on one image (ground truth, attention, predictions),
the attention per head, the skip gates, the comparison table and scores against distance, the published caution."""

import streamlit as st

from models.labs.segmentation import analysis
from models.labs.segmentation.tasks import VALIDATION_SEED
from pages import _ui
from viz import segmentation as figures

CAUTION = """
**What the published tables say (read before concluding "transformers win").**
- *TransUNet's own Synapse table* (8 abdominal organs, Dice %): on the **pancreas** TransUNet scores **55.86**, below
  the Attention U-Net's **58.04** and about the plain U-Net's **53.98** (R50 U-Net 56.90). Its mean Dice, 77.48, is
  also below the Attention U-Net's 77.77; TransUNet's clear gain is in the boundary distance (HD95 31.69 vs 36.02 mm).
- *Swin-UNet* reaches 79.13 mean Dice on Synapse (pancreas 56.58) with its encoder **and** decoder initialised
  from ImageNet weights; its authors write that "pre-training is very important for pure transformer models".
  Here every model trains from scratch on a few thousand small images, so the pure transformers (SETR,
  Swin-UNet) start at a disadvantage that the papers do not have.
- A long-range advantage shows only where distant evidence decides. On local tasks (the control, the MRI tissue
  classes below) a U-Net is expected to match the transformers at a fraction of the cost.
"""


NOTES = (
    "- **U-Transformer:** the bottleneck's 16 x 16 pixels are tokens with a 2D sinusoidal P, $X' = X + \\mathrm{MHA}"
    "(LN(X) + P)$, 4 heads; at every skip but the finest, cross-attention (queries, keys from the decoder map, values "
    "from the skip) gates the skip map. **MHSA only** is the same without the skip cross-attention: its bottleneck is "
    "the only path that sees the whole image.\n"
    "- **TransUNet:** a CNN to 1/16, each cell a token with a learned position embedding, 2 ViT layers, then a "
    "cascaded upsampler with 3 skips. **SETR:** a pure ViT on 4 x 4 patches (16 x 16 tokens, 4 layers) with the "
    "paper's naive, progressive-upsampling (PUP) or multi-level-aggregation (MLA) decoder.\n"
    "- **Swin-UNet:** 4 x 4 patches, window attention (M = 4) alternating with shifted windows, patch merging and "
    "expanding with skips; **GLAM-Swin-UNet** adds a global token per window that every window reads. All are "
    "scaled down (widths 16-64, 2-4 layers) to train live on a CPU."
)


def notes_and_caution() -> None:
    """What each architecture computes and what the papers' tables say: above the lab, or in the sidebar in
    presenter mode (the projector's first screen keeps the lecture figure)."""
    where = st.sidebar if _ui.presenter_mode() else st
    with where.expander("What each architecture here computes (and where it departs from its paper)"):
        st.markdown(NOTES)
    with where.expander("Caution: where transformers did not beat U-Net in the papers", icon=":material/warning:"):
        st.markdown(CAUTION)


def farthest_target(sample) -> tuple[int, int]:
    """The centre (row, column) of the ``sample``'s target blob farthest from the key: beyond a U-Net's reach."""
    target = max((o for o in sample.objects if o.is_target), key=lambda o: o.distance)
    return int(round(target.center[0])), int(round(target.center[1]))


def side_by_side(analyses: dict, metas: dict, sample, pixel: tuple[int, int], opacity: float, task, index: int):
    """The chosen models' ``analyses`` ({label: Analysis}; ``metas``: their checkpoints' meta) on one validation
    ``sample`` with the picked ``pixel``."""
    size = sample.image.shape
    maps = {label: analysis.pixel_attention(a.trace, *pixel, size) for label, a in analyses.items() if a.has_attention}
    models = {label: (a.prediction, maps[label].mean(0) if label in maps else None) for label, a in analyses.items()}
    figure = figures.side_by_side(sample.image, sample.mask, models, pixel, opacity)
    _ui.show_figure(figure, "seg_side", _how_side(metas, task.long_range))
    if task.long_range:
        _blob_jumps(sample)
    if maps:
        label = st.selectbox("Attention per head of", list(maps), key="seg_heads_of", bind="query-params")
        how = "Yellow is where a head looks from the picked pixel; transparent where its weight is small."
        _ui.show_figure(figures.head_attention(maps[label], sample.image, pixel), "seg_heads", how)
        h, w = analyses[label].trace.bottleneck_shape
        st.caption(
            f"Each map is row q of {label}'s last attention layer for the cell under the picked pixel, over its "
            f"{h} x {w} = {h * w} tokens (uniform: 1/{h * w} = {1 / (h * w):.4f}). Brighter than uniform is where the "
            "head looks; heads need not agree. Swin-UNet's rows are zero outside the pixel's window."
        )
    gated = {label: a for label, a in analyses.items() if a.trace.skip_gates}
    for column, (label, a) in zip(st.columns(max(len(gated), 1)), gated.items(), strict=False):
        with column:
            _ui.show_figure(
                figures.gate_figure(analysis.gate_maps(a.trace), f"{label}: skip gates"), f"seg_gates_{label}"
            )
    settings = {"task": task.kind, "image": index, "seed": VALIDATION_SEED, "pixel": list(pixel)}
    arrays = {"image": sample.image, "mask": sample.mask}
    arrays.update({f"prediction_{label}": a.prediction for label, a in analyses.items()})
    arrays.update({f"attention_{label}": m for label, m in maps.items()})
    _ui.export_buttons("segmentation_panels", arrays, settings)


def _how_side(metas: dict[str, dict], long_range: bool) -> str:
    """The side-by-side figure's reading guide, with what each shown model's attention puts on the key."""
    on_key = [
        f"{label} {meta['key_attention']['head_mean']:.1f}x"
        for label, meta in metas.items()
        if meta.get("key_attention") and long_range
    ]
    weights = ", ".join(on_key)
    measured = f" Its weight on the key, as a multiple of uniform (head mean, 16 images): {weights}." if on_key else ""
    return (
        f"Yellow: where each model's last attention layer looks from the picked pixel (cross).{measured} Masks: green "
        "correct, red wrong, blue missed; a U-Net, blind to the distant key, segments every striped blob, a model "
        "whose attention reaches the key only the targets."
    )


def key_mass(metas: dict[str, dict]) -> None:
    """What the shown models' attention puts on the key, measured on 16 validation images when they were made."""
    parts = [
        f"{label} {meta['key_attention']['head_mean']:.1f}x (best head {meta['key_attention']['best_head']:.1f}x)"
        for label, meta in metas.items()
        if meta.get("key_attention")
    ]
    if parts:
        st.caption(
            "Attention on the key from target-blob pixels, head mean, as a multiple of uniform: "
            + "; ".join(parts)
            + ". With cross-attention on its skips the U-Transformer can carry the key to the decoder there, so its "
            "bottleneck need not look at it; without them (MHSA only) the bottleneck is the one path with global "
            "reach and must."
        )


def _blob_jumps(sample) -> None:
    orientation = "horizontal" if sample.key_horizontal else "vertical"
    r0, c0, r1, c1 = sample.key_box
    st.caption(
        f"Key: {orientation} stripes at rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1} (segment the {orientation}ly "
        "striped blobs); the other striped squares are look-alikes on tissue. Jump to a blob:"
    )
    for i, (column, obj) in enumerate(zip(st.columns(len(sample.objects)), sample.objects, strict=True)):
        center = (int(round(obj.center[0])), int(round(obj.center[1])))
        column.button(
            f"blob {i + 1} ({'target' if obj.is_target else 'decoy'}, {obj.distance:.0f} px from key)",
            key=f"seg_jump_{i}",
            on_click=lambda c=center: st.session_state.update(seg_row=c[0], seg_col=c[1]),
        )


def comparison_table(metas: dict[str, dict], long_range: bool) -> None:
    """One row per pretrained model ({label: checkpoint meta}): what the pretraining measured."""
    rows = []
    for label, meta in metas.items():
        spent = meta.get("cost", {})
        row = {
            "model": label,
            "parameters": meta["parameters"],
            "ms / training step": round(spent["step_ms"], 1) if spent else None,
            "ms / inference": round(spent["inference_ms"], 1) if spent else None,
            "batch": spent.get("batch_size"),
            "training steps": meta["steps"],
            "validation Dice": round(meta["validation_dice"], 3),
        }
        if long_range:
            row["accuracy beyond the U-Net's RF"] = round(meta["far_accuracy"], 3)
            mass = meta.get("key_attention")
            row["attention on key (x uniform): head mean / best head"] = (
                f"{mass['head_mean']:.1f} / {mass['best_head']:.1f}" if mass else "no attention"
            )
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(
        "How to read this: each row is a shipped model, timed after pretraining one after another on one CPU "
        "thread (milliseconds depend on the machine: compare rows). Dice: overlap with the truth on "
        "200 fixed validation images (20 held-out slices for MRI), averaged over foreground classes. Beyond the RF: "
        "blobs whose key lies farther than a depth-2 U-Net's receptive-field radius (26 px); 0.5 is chance. "
        "Attention on key: the last attention layer's weight on the key's cells, from target-blob pixels, as a "
        "multiple of uniform attention."
    )
