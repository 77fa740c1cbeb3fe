"""TransUNet, SETR (three decoders), Swin-UNet and GLAM-Swin-UNet: shapes at every size a page allows, traces like
every model's, attention rows that sum to 1, gradients everywhere, parameter counts, and a run on the default device
(CUDA when present)."""

import dataclasses

import numpy as np
import pytest
import torch

from models.core.device import default_device
from models.labs.segmentation.analysis import pixel_attention
from models.labs.segmentation.hybrids.common import IMAGE_SIZES, PAGE_SIZES, parameter_count
from models.labs.segmentation.hybrids.models import (
    ARCHITECTURES,
    LABELS,
    build_model,
    default_settings,
    model_from_settings,
    model_settings,
)
from models.labs.segmentation.hybrids.setr import DECODERS
from models.labs.segmentation.models import build_model as build_unet

VARIANTS = [("transunet", {}), *[("setr", {"decoder": d}) for d in DECODERS], ("swin_unet", {}), ("glam_swin_unet", {})]
IDS = [f"{a}-{s.get('decoder', '')}".rstrip("-") for a, s in VARIANTS]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize(("architecture", "settings"), VARIANTS, ids=IDS)
def test_shapes_at_every_size_with_the_default_settings(architecture, settings, size):
    model = build_model(architecture, image_size=size, **settings).eval()
    with torch.no_grad():
        trace = model.trace(torch.rand(2, 1, size, size))
    assert trace.output.shape == (2, 2, size, size) and torch.isfinite(trace.output).all()
    h, w = trace.bottleneck_shape
    A = trace.bottleneck_attention
    assert A.shape[0] == 2 and A.shape[-2:] == (h * w, h * w)
    assert trace.skip_gates == {}


@pytest.mark.parametrize("size", PAGE_SIZES)
@pytest.mark.parametrize(("architecture", "settings"), VARIANTS, ids=IDS)
def test_trace_output_is_forward_and_the_segmentation_lab_reads_its_attention(architecture, settings, size):
    model = build_model(architecture, image_size=size, **settings).eval()
    x = torch.rand(1, 1, size, size)
    with torch.no_grad():
        trace = model.trace(x)
        torch.testing.assert_close(trace.output, model(x))
    assert dataclasses.is_dataclass(trace) and type(trace).__name__ == f"{type(model).__name__}Trace"
    maps = pixel_attention(trace, size // 2, size // 3, (size, size))  # the U-Transformer's per-pixel view
    assert maps.shape == (trace.bottleneck_attention.shape[1], size, size) and np.isfinite(maps).all()


@pytest.mark.parametrize(("architecture", "settings"), VARIANTS, ids=IDS)
def test_every_parameter_gets_a_gradient(architecture, settings):
    model = build_model(architecture, image_size=32, **settings).train()
    logits = model(torch.rand(2, 1, 32, 32))
    torch.nn.functional.cross_entropy(logits, torch.randint(2, (2, 32, 32))).backward()
    last = f"blocks.{model.config.blocks - 1}.global_" if architecture == "glam_swin_unet" else None
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # GLAM: a stage's last G-MSA updates global tokens that no later block of the stage reads (as in GLAM's code,
    # each stage has its own global tokens), so it gets no gradient; everything else does.
    assert [name for name in missing if last is None or last not in name] == [], missing
    if last is not None:
        assert all(last in name for name in missing) and missing


@pytest.mark.parametrize("size", PAGE_SIZES)
def test_transformer_attention_rows_sum_to_one_in_every_layer(size):
    for architecture, settings in VARIANTS[:4]:  # TransUNet and SETR: full attention over the tokens
        model = build_model(architecture, image_size=size, **settings).eval()
        with torch.no_grad():
            trace = model.trace(torch.rand(3, 1, size, size) * 4)
        n = trace.bottleneck_shape[0] * trace.bottleneck_shape[1]
        assert len(trace.attentions) == model.config.n_layers
        for A in trace.attentions:
            assert A.shape == (3, model.config.n_heads, n, n) and (A >= 0).all()
            torch.testing.assert_close(A.sum(-1), torch.ones(A.shape[:-1]))


@pytest.mark.parametrize("size", PAGE_SIZES)
@pytest.mark.parametrize("architecture", ["swin_unet", "glam_swin_unet"])
def test_window_attention_rows_sum_to_one_in_every_stage(architecture, size):
    model = build_model(architecture, image_size=size).eval()
    with torch.no_grad():
        trace = model.trace(torch.rand(2, 1, size, size) * 4)
    assert trace.stage_names == ("encoder 0", "encoder 1", "bottleneck", "decoder 1", "decoder 0")
    for name, grid in zip(trace.stage_names, trace.grids, strict=True):
        for block in range(model.config.blocks):
            window = trace.window_attention(name, block).weights  # (B, nW, heads, P + M*M, P + M*M)
            torch.testing.assert_close(window.sum(-1), torch.ones(window.shape[:-1]))
            on_grid = trace.attention_on_grid(name, block)  # (B, heads, N, N)
            assert on_grid.shape[-1] == grid[0] * grid[1]
            rows = on_grid.sum(-1)
            if architecture == "swin_unet":
                torch.testing.assert_close(rows, torch.ones_like(rows))
            else:  # the rest of each row went to the window's global tokens: the same values, token for token
                share = window[..., model.config.n_global :, : model.config.n_global].sum(-1)  # (B, nW, heads, T)
                share = share.transpose(1, 2).flatten(2)  # (B, heads, N) in window order
                torch.testing.assert_close(rows.sort(-1).values, (1 - share).sort(-1).values)


def test_parameter_counts_are_reported_and_of_the_u_nets_order():
    counts = {LABELS[a]: parameter_count(build_model(a, image_size=64)) for a in ARCHITECTURES}
    counts["U-Net"] = parameter_count(build_unet("unet"))
    print("parameters at 64x64:", counts)
    for name, count in counts.items():
        assert 50_000 < count < 1_000_000, (name, count)
    assert counts["GLAM-Swin-UNet"] > counts["Swin-UNet"]  # G-MSA and the global tokens


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_settings_rebuild_the_same_model(architecture):
    model = build_model(architecture, image_size=32)
    settings = model_settings(model)
    assert settings["architecture"] == architecture
    again = model_from_settings(settings)
    again.load_state_dict(model.state_dict())
    assert parameter_count(again) == parameter_count(model)


def test_default_settings_fit_every_size():
    for architecture in ARCHITECTURES:
        for size in IMAGE_SIZES:
            settings = default_settings(architecture, size)
            assert settings["image_size"] == size
            build_model(architecture, **settings)


def test_models_run_and_train_on_the_default_device():
    device = default_device()  # CUDA when present, else CPU
    for architecture, settings in VARIANTS:
        model = build_model(architecture, image_size=32, **settings).to(device)
        x = torch.rand(2, 1, 32, 32, device=device)
        logits = model(x)
        assert logits.device.type == device.type
        logits.sum().backward()
        with torch.no_grad():
            trace = model.eval().trace(x)
        assert trace.bottleneck_attention.device.type == device.type
