"""ViT lab: an 8x8 digit cut into patches, what the CLS token attends to, and attention vs attribution."""

import streamlit as st

from models import vit
from models.engine import Trainer
from pages import _ui
from viz.attention import attribution_figure, patches_figure, vit_attention_figure
from viz.training import history_curves

WHY_THEY_DIFFER = (
    "**Why they differ.** Attention says where the CLS token *reads* from in each layer: it mixes token vectors "
    "that already carry information from every patch (and the residual path bypasses it), and it has no sign. "
    "Integrated Gradients measures how much each *pixel* moves the predicted class's logit, summed along a path from "
    "a black image, positive or negative; it accounts for the values, the FFNs and the head. A patch can be read "
    "heavily yet matter little for this class, and a dark pixel (where the stroke is absent) can be strong evidence."
)


LECTURE_FIGURE = {"vit_index": 0, "vit_patch": 2, "vit_layers": 2, "vit_heads": 4, "vit_steps": vit.PRETRAIN_STEPS}


def apply_lecture_figure() -> None:
    st.session_state.update(LECTURE_FIGURE)


@st.cache_resource(show_spinner=False)
def pretrained_vit():
    """The read-only pretrained ViT shared by every session (inference only)."""
    return vit.load_pretrained_vit(vit.checkpoint_path(_ui.ASSETS))


@st.cache_resource(show_spinner=False)
def digits() -> vit.DigitsData:
    return vit.load_digits_data()


_ui.lab_header(
    "Vision Transformer (ViT)",
    "Vision Image Transformer (ViT)",
    "An image becomes a set of tokens: p x p patches, each linearly embedded ($e_i = x_i W^e$), plus a learned "
    "**CLS** token, plus a learned positional embedding; the transformer encoder mixes them and the class is read "
    "from CLS. Here on scikit-learn's bundled 8 x 8 handwritten digits (1,500 to train, 297 held out).",
)
st.button(
    "Lecture figure: a digit as 16 patch tokens + CLS", on_click=apply_lecture_figure, icon=":material/slideshow:"
)

with _ui.user_errors():
    model, meta = pretrained_vit()
    data = digits()
    index = st.number_input(
        "Test image", 0, len(data.test_labels) - 1, 0, key="vit_index", bind="query-params", help="Held-out digit."
    )
    image, label = data.test_images[index], int(data.test_labels[index])
    explanation = vit.explain(model, image)
    config = model.config
    st.markdown(
        f"Pretrained ViT ({config.n_layers} layers, {config.n_heads} heads, d = {config.d_model}, "
        f"{config.grid**2} patches of {config.patch_size} x {config.patch_size} + CLS): held-out accuracy "
        f"**{meta['test_accuracy']:.1%}**. This digit is a **{label}**; the model says **{explanation.prediction}** "
        f"({explanation.probabilities.max():.0%})."
    )
    figure = vit_attention_figure(image.numpy(), explanation.cls_attention, explanation.rollout, config.patch_size)
    _ui.show_figure(figure, key="vit_cls_attention")
    left, right = st.columns([1, 3])
    with left:
        _ui.show_figure(patches_figure(image.numpy(), config.patch_size, "Patches = tokens 1..N"), key="vit_patches")
    with right:
        figure = attribution_figure(
            image.numpy(), explanation.rollout, explanation.attribution, config.patch_size, str(explanation.prediction)
        )
        _ui.show_figure(figure, key="vit_attribution")
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
    col_patch, col_layers, col_heads, col_steps, col_lr = st.columns(5)
    patch = col_patch.select_slider("Patch size", [1, 2, 4, 8], value=2, key="vit_patch", bind="query-params")
    n_layers = col_layers.slider("Layers", 1, 4, 2, key="vit_layers", bind="query-params")
    n_heads = col_heads.select_slider("Heads", [1, 2, 4, 8], value=4, key="vit_heads", bind="query-params")
    steps = col_steps.slider("Steps", 50, 3000, vit.PRETRAIN_STEPS, step=50, key="vit_steps", bind="query-params")
    lr = col_lr.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0],
        value=vit.PRETRAIN_LR,
        key="vit_lr",
        bind="query-params",
    )

    def make_trainer() -> Trainer:
        model = vit.ViT(vit.ViTConfig(patch_size=patch, n_layers=n_layers, n_heads=n_heads))
        return vit.vit_trainer(model, steps, lr, _ui.global_seed(), _ui.device())

    def render(trainer: Trainer) -> None:
        history = trainer.history
        title = f"ViT with {patch} x {patch} patches on 8 x 8 digits"
        _ui.show_figure(
            history_curves(history, "accuracy", title),
            key="vit_train_curves",
        )
        if trainer.done:
            st.markdown(f"Held-out accuracy: **{vit.test_accuracy(trainer.model):.1%}**")
            mine = vit.explain(trainer.model, image, ig_steps=16)
            figure = vit_attention_figure(image.numpy(), mine.cls_attention, mine.rollout, patch)
            _ui.show_figure(figure, key="vit_train_attention")

    _ui.live_training("vit", make_trainer, render)
