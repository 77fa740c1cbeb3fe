"""Figures of the ViT lab: patch grid, CLS attention over the image, attention beside attribution."""

import numpy as np

from viz.vit import attribution_figure, patches_figure, vit_attention_figure

RNG = np.random.default_rng(0)


def _heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def test_vit_figures():
    image = RNG.random((8, 8))
    fig = vit_attention_figure(image, RNG.random((2, 4, 4, 4)), RNG.random((4, 4)), 2)
    assert len(_heatmaps(fig)) == 2 * 4 + 2
    assert np.asarray(fig.data[0].z).shape == (8, 8)  # patch grid upsampled to pixels
    assert fig.layout.yaxis.scaleanchor == "x"
    attribution = attribution_figure(image, RNG.random((4, 4)), RNG.normal(size=(8, 8)), 2, "3")
    ig = attribution.data[2]
    assert ig.zmid == 0.0 and ig.zmin == -ig.zmax
    patches = patches_figure(image, 2, "patches")
    assert len(patches.layout.shapes) == 16
    assert [a.text for a in patches.layout.annotations][:2] == ["1", "2"]
