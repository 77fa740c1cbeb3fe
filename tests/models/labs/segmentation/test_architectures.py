"""Every architecture the page offers builds at every size it allows, maps grey images to per-class logits, has
attention rows that sum to 1 where it has attention, and survives a checkpoint round trip of its settings."""

import pytest
import torch

from models.labs.segmentation.analysis import analyse, attention_of
from models.labs.segmentation.architectures import (
    ARCHITECTURES,
    build,
    model_from_settings,
    model_label,
    model_settings,
    receptive_field,
)
from models.labs.segmentation.hybrids.setr import DECODERS
from models.labs.segmentation.tasks import SIZES

FULL_ATTENTION = ("utransformer", "transunet", "setr")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("num_classes", [2, 3])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_at_every_page_size_gives_logits_per_class(architecture, size, num_classes):
    model = build(architecture, size, num_classes).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, size, size)).shape == (2, num_classes, size, size)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("size", SIZES)
def test_setr_with_each_decoder(decoder, size):
    model = build("setr", size, decoder=decoder).eval()
    assert model.config.decoder == decoder and model(torch.rand(1, 1, size, size)).shape == (1, 2, size, size)
    assert model_label(model) == {"naive": "SETR-naive", "pup": "SETR-PUP", "mla": "SETR-MLA"}[decoder]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_attention_rows_sum_to_one_and_settings_rebuild_the_model(architecture):
    torch.manual_seed(0)
    model = build(architecture, 64).eval()
    trace = analyse(model, torch.rand(64, 64).numpy()).trace
    A = attention_of(trace)
    if architecture in ("unet", "attention_unet"):
        assert A is None and receptive_field(model) is not None
    else:
        sums = A.sum(-1)  # (1, heads, N)
        if architecture in FULL_ATTENTION or architecture == "swin_unet":
            torch.testing.assert_close(sums, torch.ones_like(sums))
        else:  # GLAM: a window token's weight on its global tokens is left out of the grid
            assert ((sums > 0) & (sums <= 1 + 1e-5)).all()
    rebuilt = model_from_settings(model_settings(model))
    assert type(rebuilt) is type(model) and rebuilt.state_dict().keys() == model.state_dict().keys()


def test_the_mhsa_only_utransformer_has_no_cross_attention():
    full, ablated = build("utransformer", 64), build("utransformer", 64, cross_attention=False)
    assert len(full.mhca) == 1 and len(ablated.mhca) == 0
    assert model_label(ablated) == "U-Transformer (MHSA only)" and model_label(full) == "U-Transformer"
    assert model_from_settings(model_settings(ablated)).config["cross_attention"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vnet", 64), "architecture must be one of"),
        (("unet", 64, 2, 7), "depth"),
        (("utransformer", 64, 2, 1), "bottleneck tokens"),
        (("setr", 64, 2, 2, "fpn"), "decoder"),
        (("transunet", 48), "image size"),
    ],
)
def test_a_combination_that_cannot_work_is_refused_with_the_reason(args, message):
    with pytest.raises(ValueError, match=message):
        build(*args)
