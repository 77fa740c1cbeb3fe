"""AppTest: the high-resolution attention lab opens clean with every view drawn, its lecture preset reproduces the
Swin slide, bad input is a message, and the side-by-side comparison trains live and stops."""

from tests.conftest import assert_clean, job_of, open_page

PAGE = "pages/highres.py"
TABS = ["Windows", "Reach", "Trained side by side", "Cost and memory", "GLAM", "FINE memory", "nnFormer"]


def _chart_titles(at) -> list[str]:
    import json

    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def test_page_shows_every_view_at_once():
    at = open_page(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Attention at high resolution"
    assert [tab.label for tab in at.tabs] == TABS
    titles = _chart_titles(at)
    assert len(titles) >= 13
    assert any(t.startswith("Swin's windows on a 16x16 token map") for t in titles)
    assert "Pretrained: accuracy against reach" in titles
    assert any("GiB of activations" in t for t in titles)
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("How to read this.") >= 12
    assert any("Refused, not attempted" in w.value and "GiB" in w.value for w in at.warning)  # 128x128 full MSA


def test_lecture_preset_reproduces_the_swin_slide():
    at = open_page(PAGE, hr_map=24, hr_window=6, hr_row=20, hr_col=20)
    at.button(key="hr_p_Swin: windows at layer l, shifted at l+1").click().run()
    assert_clean(at)
    assert (at.session_state["hr_map"], at.session_state["hr_window"]) == (8, 4)
    assert any(t.startswith("Swin's windows on a 8x8 token map, M = 4") for t in _chart_titles(at))


def test_the_unet_preset_gives_the_lectures_180_gb():
    at = open_page(PAGE, hr_unet_d=64)
    at.button(key="hr_p_180 GB for a U-Net on 512x512x256").click().run()
    assert_clean(at)
    assert at.metric[0].value == "195.7 GB"


def test_bad_sizes_are_messages_not_tracebacks():
    at = open_page(PAGE, hr_window=3, hr_side=100_000, hr_fine_image=8, hr_fine_crop=12)
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "window size 3 does not tile a 16x16 map" in errors
    assert "map size must be between 1 and 4,096 tokens a side, got 100,000" in errors
    assert "larger than the image" in errors
    assert "hr_cmp_start" not in [b.key for b in at.button]  # no Start for a run that cannot work


def test_a_token_off_a_shrunken_map_is_a_message():
    at = open_page(PAGE, hr_map=8, hr_row=20)
    assert not at.exception
    assert any("lies outside the 8x8 map" in e.value for e in at.error)


def test_side_by_side_training_starts_and_stops():
    at = open_page(
        PAGE, hr_map=8, hr_train_steps=1000, hr_train_batch=4, hr_train_mechs=["window", "full"], hr_row=1, hr_col=1
    )
    at.button(key="hr_cmp_start").click().run()
    group = job_of(at, "hr_cmp").snapshot
    assert set(group.trainers) == {"window", "full"} and group.step > 0 and not at.exception
    at.run()
    at.button(key="hr_cmp_stop").click().run()
    assert job_of(at, "hr_cmp").snapshot.status == "stopped"
    assert not at.exception
