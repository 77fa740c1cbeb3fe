"""ViT lab: an 8x8 digit cut into patches, what the CLS token attends to, and attention vs attribution."""

from dataclasses import replace

import streamlit as st

from models.data.digits import load_digits_data
from models.labs.vit.analysis import explain
from models.labs.vit.model import ViTConfig
from models.labs.vit.pretrain import checkpoint_path, held_out_accuracy, load_pretrained
from models.labs.vit.spec import ViTRun, build_trainer
from pages import _ui
from pages._controls import LEARNING_RATES, Control, Controls
from viz import vit as figures
from viz.training import history_curves

WHY_THEY_DIFFER = (
    "**Why they differ.** Attention says where the CLS token *reads* from in each layer: it mixes token vectors "
    "that already carry information from every patch (and the residual path bypasses it), and it has no sign. "
    "Integrated Gradients measures how much each *pixel* moves the predicted class's logit, summed along a path from "
    "a black image, positive or negative; it accounts for the values, the FFNs and the head. A patch can be read "
    "heavily yet matter little for this class, and a dark pixel (where the stroke is absent) can be strong evidence."
)
DEFAULT = ViTRun()
CONTROLS = Controls(
    [
        Control(
            "vit_index",
            "Test image",
            0,
            "number",
            bounds=(0, len(load_digits_data().test_labels) - 1, 1),
            help="Held-out digit.",
        ),
        Control("vit_patch", "Patch size", DEFAULT.model.patch_size, "select_slider", (1, 2, 4, 8)),
        Control("vit_layers", "Layers", DEFAULT.model.n_layers, bounds=(1, 4, 1)),
        Control("vit_heads", "Heads", DEFAULT.model.n_heads, "select_slider", (1, 2, 4, 8)),
        Control("vit_steps", "Steps", DEFAULT.train.steps, bounds=(50, 3000, 50)),
        Control("vit_lr", "Learning rate", DEFAULT.train.lr, "select_slider", LEARNING_RATES),
    ],
    presets={"a digit as 16 patch tokens + CLS": {}},
)


@st.cache_resource(show_spinner=False)
def pretrained_vit():
    """The read-only pretrained ViT shared by every session (inference only)."""
    return load_pretrained(checkpoint_path(_ui.ASSETS))


_ui.lab_header(
    "Vision Transformer (ViT)",
    "Vision Image Transformer (ViT)",
    "An image becomes a set of tokens: p x p patches, each linearly embedded ($e_i = x_i W^e$), plus a learned "
    "**CLS** token, plus a learned positional embedding; the transformer encoder mixes them and the class is read "
    "from CLS. Here on scikit-learn's bundled 8 x 8 handwritten digits (1,500 to train, 297 held out). Two details "
    "differ from the slide's drawing, as in the ViT paper: the patch embedding has a bias ($e_i = x_i W^e + b$), "
    "and each block normalises before attention and FFN (pre-norm), with a final LayerNorm.",
)
CONTROLS.preset_buttons("vit", label="Lecture figure")
CONTROLS.init()

with _ui.user_errors(stop=True):
    model, meta = pretrained_vit()
    data = load_digits_data()
    (index,) = CONTROLS.row("vit_index")
    image, label = data.test_images[index], int(data.test_labels[index])
    explanation = explain(model, image)
    config = model.config
    st.markdown(
        f"Pretrained ViT ({config.n_layers} layers, {config.n_heads} heads, d = {config.d_model}, "
        f"{config.grid**2} patches of {config.patch_size} x {config.patch_size} + CLS): held-out accuracy "
        f"**{meta['test_accuracy']:.1%}**. This digit is a **{label}**; the model says **{explanation.prediction}** "
        f"({explanation.probabilities.max():.0%})."
    )
    figure = figures.vit_attention_figure(
        image.numpy(), explanation.cls_attention, explanation.rollout, config.patch_size
    )
    how = (
        "Where the CLS token (the one the class is read from) looks among the patches, per layer (rows) and head "
        "(columns), upsampled over the digit; the last column shows the image and the rollout through both layers."
    )
    _ui.show_figure(figure, "vit_cls_attention", how)
    left, right = st.columns([1, 3])
    with left:
        figure = figures.patches_figure(image.numpy(), config.patch_size, "Patches = tokens 1..N")
        _ui.show_figure(figure, key="vit_patches")
    with right:
        figure = figures.attribution_figure(
            image.numpy(), explanation.rollout, explanation.attribution, config.patch_size, str(explanation.prediction)
        )
        how = "Attention (where CLS reads) beside Integrated Gradients (which pixels push the class up, red, or down)."
        _ui.show_figure(figure, "vit_attribution", how)
    st.markdown(WHY_THEY_DIFFER)
    arrays = {
        "image": image.numpy(),
        "cls_attention": explanation.cls_attention,
        "rollout": explanation.rollout,
        "integrated_gradients": explanation.attribution,
    }
    _ui.export_buttons("vit_explanation", arrays, {"test_image": int(index), "label": label})

with _ui.user_errors():
    st.subheader("Train a ViT yourself")
    keys = ("vit_patch", "vit_layers", "vit_heads", "vit_steps", "vit_lr")
    patch, n_layers, n_heads, steps, lr = CONTROLS.row(*keys)
    run = ViTRun(
        ViTConfig(patch_size=patch, n_layers=n_layers, n_heads=n_heads),
        replace(DEFAULT.train, steps=steps, lr=lr, seed=_ui.global_seed()),
    )

    def render(trainer) -> None:
        title = f"ViT with {patch} x {patch} patches on 8 x 8 digits"
        _ui.show_figure(history_curves(trainer.history, "accuracy", title), key="vit_train_curves")
        if trainer.done:
            st.markdown(f"Held-out accuracy: **{held_out_accuracy(trainer.model):.1%}**")
            mine = explain(trainer.model, image, ig_steps=16)
            figure = figures.vit_attention_figure(image.numpy(), mine.cls_attention, mine.rollout, patch)
            _ui.show_figure(figure, key="vit_train_attention")

    _ui.live_training("vit", lambda: build_trainer(run, _ui.device()), render, chance=("accuracy", 0.1))
