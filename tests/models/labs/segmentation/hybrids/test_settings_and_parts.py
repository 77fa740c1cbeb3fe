"""What cannot work is refused with a reason; the settings that change an architecture do what they say (TransUNet's
skips, SETR's decoders on one encoder, Swin's windows per stage); the window attention laid over the grid is the
attention the layer applied; the models are made of the package's one attention."""

import pytest
import torch

from models.blocks.attention import MultiHeadAttention
from models.blocks.windows import WindowAttention
from models.labs.segmentation.hybrids.common import parameter_count, window_attention_on_grid
from models.labs.segmentation.hybrids.models import ARCHITECTURES, build_model
from models.labs.segmentation.hybrids.setr import DECODERS, SETR
from models.labs.segmentation.hybrids.swin_unet import SwinUNet
from models.labs.segmentation.hybrids.transunet import TransUNet


@pytest.mark.parametrize(
    ("architecture", "settings", "message"),
    [
        ("pspnet", {}, "architecture must be one of"),
        ("setr", {"image_size": 50}, "image size"),
        ("setr", {"decoder": "fpn"}, "decoder must be one of"),
        ("setr", {"patch_size": 3}, "patch size"),
        ("setr", {"image_size": 64, "patch_size": 2}, "1024 tokens; full attention allows at most 256"),
        ("setr", {"decoder": "mla", "n_layers": 1}, "MLA decoder .* at least 2 layers"),
        ("setr", {"d_model": 30, "n_heads": 4}, "must divide the token width"),
        ("setr", {"n_heads": 3}, "number of heads"),
        ("setr", {"depth": 2}, "SETR has no setting depth"),
        ("transunet", {"n_skip": 4}, "number of skips"),
        ("transunet", {"image_size": 64, "cnn_levels": 3, "n_skip": 3}, "3 skips need a CNN of at least 4 levels"),
        ("transunet", {"image_size": 128, "cnn_levels": 2, "n_skip": 1}, "1024 tokens"),
        ("transunet", {"cnn_levels": 5}, "CNN levels"),
        ("transunet", {"n_layers": 0}, "transformer layers"),
        ("swin_unet", {"window_size": 3}, "stage 0 .* 16x16 token map: window size 3 does not tile"),
        ("swin_unet", {"image_size": 32, "patch_size": 8, "n_merges": 3}, "must be a multiple of 8"),
        ("swin_unet", {"d_model": 128, "n_merges": 3, "patch_size": 2}, "at most 512"),
        ("swin_unet", {"n_global": 2}, "glam_swin_unet"),
        ("glam_swin_unet", {"n_global": 0}, "at least 1 global token"),
        ("glam_swin_unet", {"n_global": 100}, "global tokens per window"),
    ],
)
def test_what_cannot_work_is_refused_with_a_reason(architecture, settings, message):
    with pytest.raises(ValueError, match=message):
        build_model(architecture, **settings)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_wrong_images_are_refused_with_the_expected_shape(architecture):
    model = build_model(architecture, image_size=32)
    for bad in (torch.rand(2, 1, 64, 64), torch.rand(2, 3, 32, 32), torch.rand(32, 32)):
        with pytest.raises(ValueError, match=r"built for grey 32x32 images \(batch, 1, 32, 32\)"):
            model(bad)


def test_transunet_uses_as_many_skips_as_asked_at_the_papers_resolutions():
    counts = []
    for n_skip in range(4):
        model = build_model("transunet", image_size=64, cnn_levels=4, n_skip=n_skip).eval()
        assert isinstance(model, TransUNet)
        with torch.no_grad():
            trace = model.trace(torch.rand(1, 1, 64, 64))
        assert trace.skips == (3, 2, 1)[:n_skip]  # 1/8, 1/4, 1/2 as in the paper's n_skip = 3
        assert [f.shape[-1] for f in trace.cnn_features] == [32, 16, 8, 4]
        assert trace.bottleneck_shape == (4, 4)
        counts.append(parameter_count(model))
    assert counts == sorted(counts) and len(set(counts)) == 4  # each skip widens a CUP block's input


def test_setr_decoders_switch_on_one_encoder():
    torch.manual_seed(0)
    pup = build_model("setr", image_size=64, decoder="pup", n_layers=6).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        reference = pup.trace(x)
    for decoder in DECODERS:
        other = pup.with_decoder(decoder).eval()
        assert isinstance(other, SETR) and other.encoder is pup.encoder and other.config.decoder == decoder
        with torch.no_grad():
            trace = other.trace(x)
        assert trace.output.shape == (2, 2, 64, 64) and trace.decoder == decoder
        torch.testing.assert_close(trace.encoder.output, reference.encoder.output)
    with torch.no_grad():
        mla = pup.with_decoder("mla").trace(x)
    assert pup.config.mla_layers == (1, 3, 4, 6)  # M = 4 taps, evenly spaced, the last layer last
    assert len(mla.decoder_inputs) == 4 and all(m.shape == (2, 64, 16, 16) for m in mla.decoder_inputs)


def test_swin_unet_stages_shrink_the_window_to_a_small_map_and_glam_adds_global_tokens():
    model = build_model("swin_unet", image_size=32).eval()
    assert isinstance(model, SwinUNet)
    with torch.no_grad():
        trace = model.trace(torch.rand(1, 1, 32, 32))
    assert trace.grids == ((8, 8), (4, 4), (2, 2), (4, 4), (8, 8))
    assert trace.windows == (4, 4, 2, 4, 4)
    assert trace.window_attention("encoder 0", 1).shift == 2  # SW-MSA in every stage's second block
    assert trace.window_attention("bottleneck", 1).shift == 0  # one window over the whole 2x2 map: no shift
    glam = build_model("glam_swin_unet", image_size=32, n_global=3).eval()
    with torch.no_grad():
        traced = glam.trace(torch.rand(1, 1, 32, 32))
    assert traced.stage("encoder 0").global_tokens.shape == (1, 4, 3, 16)  # (B, nW, G, C)
    assert traced.window_attention("encoder 0").weights.shape[-1] == 3 + 16


@pytest.mark.parametrize("shifted", [False, True])
def test_window_attention_on_the_grid_is_what_the_layer_applied(shifted):
    """Y = A_grid V W_o + b on the un-rolled map reproduces W-MSA / SW-MSA's output token for token."""
    torch.manual_seed(0)
    layer = WindowAttention(8, 2, 4, shifted=shifted).eval()
    x = torch.randn(2, 8, 8, 8)  # (B, H, W, C)
    with torch.no_grad():
        trace = layer.trace(x)
        A = window_attention_on_grid(trace, (8, 8), 4)  # (B, heads, 64, 64)
        mha = layer.attention
        v = mha.v_proj(x.reshape(2, 64, 8)).view(2, 64, 2, 4).transpose(1, 2)  # (B, heads, N, d_head)
        y = mha.out_proj((A @ v).transpose(1, 2).reshape(2, 64, 8))
    assert trace.shift == (2 if shifted else 0)
    torch.testing.assert_close(y, trace.output.reshape(2, 64, 8), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(A.sum(-1), torch.ones(2, 2, 64))
    read = (A > 1e-6).sum(-1)  # tokens each token reads (Swin's -100 mask leaves ~1e-44 across regions)
    if shifted:  # the rolled windows that wrap round read only their own region: 4 or 8 of the 16
        assert set(read.unique().tolist()) == {4, 8, 16} and (read[:, :, 18:22] == 16).all()
    else:
        assert (read == 16).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_attention_is_the_packages_one(architecture):
    model = build_model(architecture, image_size=64)
    attentions = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    assert attentions
    assert not [m for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention)]


def test_window_attention_on_a_grid_it_does_not_fit_is_refused():
    trace = WindowAttention(8, 2, 4).trace(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="does not fit 4x4 windows on a 12x12 grid"):
        window_attention_on_grid(trace, (12, 12), 4)


def test_the_token_limit_is_the_u_transformers():
    from models.labs.segmentation.hybrids.common import MAX_TOKENS
    from models.labs.segmentation.models import MAX_ATTENTION_TOKENS

    assert MAX_TOKENS == MAX_ATTENTION_TOKENS
