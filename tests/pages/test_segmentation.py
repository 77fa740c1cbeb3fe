"""AppTest: the segmentation lab runs clean, its preset, pixel jumps and live training respond."""

from models.data.ct_slices import SegmentationTask, generate_sample
from models.labs.segmentation.analysis import VALIDATION_SEED
from tests.conftest import assert_clean, job_of, open_page

PAGE = "pages/segmentation.py"


def test_page_shows_the_four_panels_and_scores_at_once():
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Segmentation: U-Net vs U-Transformer"
    charts = at.get("plotly_chart")
    assert len(charts) >= 7
    assert at.tabs[0].label == "Four panels and attention"


def test_lecture_preset_picks_the_slide_view():
    at = open_page(PAGE, seg_task="local", seg_index=10, seg_row=0, seg_col=0)
    at.button[0].click().run()
    assert_clean(at)
    assert at.selectbox(key="seg_task").value == "key" and at.slider(key="seg_index").value == 3
    sample = generate_sample(SegmentationTask("key"), VALIDATION_SEED, 3)
    target = next(o for o in sample.objects if o.is_target)
    assert (at.slider(key="seg_row").value, at.slider(key="seg_col").value) == (
        round(target.center[0]),
        round(target.center[1]),
    )


def test_control_task_and_blob_jump():
    at = open_page(PAGE, seg_task="local")
    assert_clean(at)
    at.button(key="seg_jump_1").click().run()
    obj = generate_sample(SegmentationTask("local"), VALIDATION_SEED, 3).objects[1]
    assert at.slider(key="seg_row").value == round(obj.center[0])
    assert_clean(at)


def test_train_live_starts_and_stops():
    at = open_page(PAGE, seg_train_steps=20, seg_train_batch=4, seg_train_arch="unet")
    at.button(key="seg_start").click().run()
    assert job_of(at, "seg").snapshot.step > 0 and not at.exception
    at.run()
    at.button(key="seg_stop").click().run()
    assert job_of(at, "seg").snapshot.status in ("stopped", "finished")
    assert not at.exception


def test_impossible_training_setting_is_a_message_not_a_traceback():
    """Refused as soon as it is set, with the reason; no Start button offers a run that cannot work."""
    at = open_page(PAGE, seg_train_arch="utransformer", seg_train_depth=1, seg_train_task="key")
    assert not at.exception
    assert not [b for b in at.button if b.key == "seg_start"]
    assert any("bottleneck tokens" in e.value for e in at.error)
    assert "seg_job" not in at.session_state
