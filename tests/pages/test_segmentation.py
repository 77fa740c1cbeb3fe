"""AppTest: the segmentation lab runs clean with several architectures side by side, on every task, its lecture
preset, pixel jumps, refusals and live training respond."""

from models.core.checkpoint import load_checkpoint
from models.core.pretrain import ASSETS
from models.labs.segmentation.pretrain import MHSA_ONLY, checkpoint_path
from models.labs.segmentation.tasks import LabTask
from tests.conftest import assert_clean, job_of, open_page

PAGE = "pages/segmentation.py"


def test_page_shows_two_architectures_side_by_side_and_the_scores_at_once():
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value.startswith("Segmentation: U-Net, U-Transformer, TransUNet, SETR")
    assert at.multiselect(key="seg_shown_striped").value == ["U-Net", "U-Transformer (MHSA only)"]
    assert len(at.get("plotly_chart")) >= 5
    assert at.tabs[0].label == "Side by side"
    assert any("Caution" in e.label for e in at.main.expander)
    how = next(c.value for c in at.caption if "How to read this" in c.value and "multiple of uniform" in c.value)
    stated = load_checkpoint(checkpoint_path(ASSETS, f"striped_{MHSA_ONLY}")).meta["key_attention"]["head_mean"]
    assert f"U-Transformer (MHSA only) {stated:.1f}x" in how


def test_default_pixel_is_the_target_blob_farthest_from_the_key():
    at = open_page(PAGE)
    target = max((o for o in LabTask().sample(3).objects if o.is_target), key=lambda o: o.distance)
    assert (at.slider(key="seg_row").value, at.slider(key="seg_col").value) == (
        round(target.center[0]),
        round(target.center[1]),
    )


def test_presenter_mode_folds_the_notes_into_the_sidebar():
    at = open_page(PAGE, presenter=True)
    assert_clean(at)
    assert not [e for e in at.main.expander if "Caution" in e.label or "architecture" in e.label]
    assert sum("Caution" in e.label or "architecture" in e.label for e in at.sidebar.expander) == 2


def test_three_architectures_with_and_without_attention():
    shown = ["U-Net", "TransUNet", "Swin-UNet"]
    at = open_page(PAGE, seg_shown_striped=shown)
    assert_clean(at)
    assert at.multiselect(key="seg_shown_striped").value == shown
    assert at.selectbox(key="seg_heads_of").options == ["TransUNet", "Swin-UNet"]


def test_lecture_preset_picks_the_slide_view():
    at = open_page(PAGE, seg_task="local", seg_index=10, seg_row=0, seg_col=0)
    at.button[0].click().run()
    assert_clean(at)
    assert at.selectbox(key="seg_task").value == "striped" and at.slider(key="seg_index").value == 3
    target = max((o for o in LabTask().sample(3).objects if o.is_target), key=lambda o: o.distance)
    pixel = (at.slider(key="seg_row").value, at.slider(key="seg_col").value)
    assert pixel == (round(target.center[0]), round(target.center[1]))
    assert at.multiselect(key="seg_shown_striped").value == ["U-Net", "U-Transformer (MHSA only)"]


def test_blob_jump_moves_the_picked_pixel():
    at = open_page(PAGE)
    at.button(key="seg_jump_1").click().run()
    obj = LabTask().sample(3).objects[1]
    assert at.slider(key="seg_row").value == round(obj.center[0])
    assert_clean(at)


def test_control_and_mri_tasks_run_clean():
    for task in ("local", "mri"):
        at = open_page(PAGE, seg_task=task)
        assert_clean(at)
        assert not [b for b in at.button if (b.key or "").startswith("seg_jump")]
    assert any("MNI ICBM152" in i.value for i in at.info)


def test_train_live_starts_and_stops():
    at = open_page(PAGE, seg_train_steps=2000, seg_train_batch=4, seg_train_arch="setr", seg_train_size=32)
    at.button(key="seg_start").click().run()
    assert job_of(at, "seg").snapshot.step > 0 and not at.exception
    at.run()
    at.button(key="seg_stop").click().run()
    assert job_of(at, "seg").snapshot.status == "stopped"
    assert not at.exception


def test_impossible_training_setting_is_a_message_not_a_traceback():
    """Refused as soon as it is set, with the reason; no Start button offers a run that cannot work."""
    at = open_page(PAGE, seg_train_arch="utransformer", seg_train_depth=1, seg_train_task="striped")
    assert not at.exception
    assert not [b for b in at.button if b.key == "seg_start"]
    assert any("bottleneck tokens" in e.value for e in at.error)
    assert "seg_job" not in at.session_state
