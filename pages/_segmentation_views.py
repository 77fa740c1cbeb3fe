"""The segmentation lab's first tab: the slide's four panels, the attention of the picked pixel per head, the
skip gates."""

import streamlit as st

from models.labs.segmentation import analysis
from pages import _ui
from viz import segmentation as figures


def panels(models: dict, sample, shown: list[str], pixel: tuple[int, int], opacity: float, task_kind, index) -> None:
    """The pretrained ``models`` ({label: model}) on one validation ``sample``, the picked ``pixel`` (row, col)."""
    analyses = {label: analysis.analyse(model, sample.image) for label, model in models.items()}
    ut = analyses["U-Transformer"]
    maps = analysis.pixel_attention(ut.trace, *pixel, sample.image.shape)
    predictions = {label: analyses[label].prediction for label in shown}
    figure = figures.four_panels(sample.image, sample.mask, maps.mean(0), predictions, pixel, opacity)
    how = (
        "The slide's four panels: the target blobs, where the U-Transformer's bottleneck attention of the picked "
        "pixel (cross) looks, and each model's mask (green correct, red false positive, blue missed). The lecture's "
        "point: the U-Net cannot see the key in the corner and segments every blob; attention can."
    )
    _ui.show_figure(figure, "seg_four", how)
    key_state = "bright: segment horizontal stripes" if sample.key_bright else "dim: segment vertical stripes"
    st.caption(
        f"Key ({key_state}) at rows {sample.key_box[0]}-{sample.key_box[2] - 1}, columns "
        f"{sample.key_box[1]}-{sample.key_box[3] - 1}. Jump to a blob:"
    )
    for i, (column, obj) in enumerate(zip(st.columns(len(sample.objects)), sample.objects, strict=True)):
        center = (int(round(obj.center[0])), int(round(obj.center[1])))
        column.button(
            f"blob {i + 1} ({'target' if obj.is_target else 'decoy'}, {obj.distance:.0f} px from key)",
            key=f"seg_jump_{i}",
            on_click=lambda c=center: st.session_state.update(seg_row=c[0], seg_col=c[1]),
        )
    how = "Yellow is where a head looks from the picked pixel; transparent where its weight is small."
    _ui.show_figure(figures.head_attention(maps, sample.image, pixel), "seg_heads", how)
    n_tokens = ut.trace.bottleneck_shape[0] * ut.trace.bottleneck_shape[1]
    st.caption(
        f"Each map is row q of A for the bottleneck cell under the picked pixel, over the {n_tokens} cells "
        f"(uniform: 1/{n_tokens} = {1 / n_tokens:.4f}). Brighter than uniform is where that head looks; a nearly "
        "uniform row averages the whole image, which already carries the key's brightness. Heads need not agree."
    )
    gate_left, gate_right = st.columns(2)
    with gate_left:
        figure = figures.gate_figure(analysis.gate_maps(ut.trace), "U-Transformer: cross-attention gates on the skips")
        _ui.show_figure(figure, "seg_gates_ut")
    with gate_right:
        if "Attention U-Net" in analyses:
            title = "Attention U-Net: additive gates (local)"
            _ui.show_figure(
                figures.gate_figure(analysis.gate_maps(analyses["Attention U-Net"].trace), title), "seg_gates_att"
            )
    settings = {"task": task_kind, "image": index, "seed": analysis.VALIDATION_SEED, "pixel": list(pixel)}
    arrays = {"image": sample.image, "mask": sample.mask, "attention_per_head": maps}
    arrays.update({f"prediction_{label}": a.prediction for label, a in analyses.items()})
    _ui.export_buttons("segmentation_panels", arrays, settings)
