"""One way to look inside: every model of the package returns its internals from ``trace(...)`` as a typed
dataclass named ``<Model>Trace`` whose ``output`` is exactly what ``forward`` returns."""

import dataclasses

import pytest
import torch

from models.blocks.attention import MultiHeadAttention
from models.blocks.deformable import DeformableAttention, DeformableBlock, reference_points
from models.blocks.global_tokens import Glam, GlamBlock
from models.blocks.memory import CropMemory
from models.blocks.recurrent import RecurrentModel, RecurrentNet
from models.blocks.transformer import TokenTransformer, TransformerEncoder
from models.blocks.unet import UNet
from models.blocks.windows import SwinBlock, SwinStage, WindowAttention
from models.labs.highres.models import FullAttentionBlock, HighResConfig, HighResModel
from models.labs.segmentation.models import AttentionUNet, UTransformer
from models.labs.vit.model import ViT

CASES = {
    "attention": (lambda: MultiHeadAttention(8, 2), lambda: (torch.randn(2, 5, 8),)),
    "encoder": (lambda: TransformerEncoder(2, 8, 2, 16), lambda: (torch.randn(2, 5, 8),)),
    "token transformer": (lambda: TokenTransformer(6, 6, 5), lambda: (torch.randint(6, (2, 5)),)),
    "vit": (ViT, lambda: (torch.rand(2, 8, 8),)),
    "recurrent net": (lambda: RecurrentNet("lstm", 3, 4, num_layers=2), lambda: (torch.randn(2, 6, 3),)),
    "recurrent model": (lambda: RecurrentModel("gru", 3, 4, 2), lambda: (torch.randn(2, 6, 3),)),
    "unet": (lambda: UNet(base_channels=4), lambda: (torch.rand(1, 1, 32, 32),)),
    "attention unet": (lambda: AttentionUNet(base_channels=4), lambda: (torch.rand(1, 1, 32, 32),)),
    "u-transformer": (lambda: UTransformer(base_channels=4), lambda: (torch.rand(1, 1, 32, 32),)),
    "window attention": (lambda: WindowAttention(8, 2, 4, shifted=True), lambda: (torch.randn(2, 8, 8, 8),)),
    "swin block": (lambda: SwinBlock(8, 2, 4, shifted=True), lambda: (torch.randn(2, 8, 8, 8),)),
    "swin stage": (lambda: SwinStage(2, 8, 2, 4), lambda: (torch.randn(2, 8, 8, 8),)),
    "glam block": (lambda: GlamBlock(8, 2, 4, 2, (8, 8)), lambda: (torch.randn(2, 8, 8, 8), torch.randn(2, 8))),
    "glam": (lambda: Glam(2, 8, 2, 4, 2, (8, 8)), lambda: (torch.randn(2, 8, 8, 8),)),
    "crop memory": (lambda: CropMemory(8, 2, (8, 8), (2, 2), (4, 4)), lambda: (torch.randn(2, 4, 4, 8), 2, 4)),
    "deformable attention": (
        lambda: DeformableAttention(8, 2, n_levels=2),
        lambda: (torch.randn(2, 16, 8), reference_points(4, 4), [torch.randn(2, 4, 4, 8), torch.randn(2, 2, 2, 8)]),
    ),
    "deformable block": (lambda: DeformableBlock(8, 2, n_levels=2), lambda: (torch.randn(2, 4, 4, 8),)),
    "full attention block": (lambda: FullAttentionBlock(8, 2, 16), lambda: (torch.randn(2, 4, 4, 8),)),
    "high-resolution model": (
        lambda: HighResModel(HighResConfig("glam", 8)),
        lambda: (torch.randint(4, (2, 8, 8)),),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_trace_output_is_forward_and_the_trace_is_a_dataclass_named_after_the_model(name):
    torch.manual_seed(0)
    build, inputs = CASES[name]
    model = build().eval()
    args = inputs()
    with torch.no_grad():
        trace = model.trace(*args)
        torch.testing.assert_close(trace.output, model(*args), atol=1e-5, rtol=1e-5)
    assert dataclasses.is_dataclass(trace) and type(trace).__name__.endswith("Trace")
