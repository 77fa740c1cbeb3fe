"""AppTest of the ViT lab: it renders, trains, and its lecture figure resets the view."""

from tests.conftest import assert_clean, job_of, open_page


def test_vit_page_renders_and_trains():
    at = open_page("pages/vit.py", vit_steps=50, vit_index=5)
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 3
    assert any("Why they differ" in m.value for m in at.markdown)
    at.button(key="vit_start").click().run()
    assert_clean(at)
    assert job_of(at, "vit").snapshot.step > 0


def test_vit_lecture_figure_resets_the_view():
    at = open_page("pages/vit.py", vit_index=42)
    at.button[0].click().run()
    assert_clean(at)
    assert at.session_state["vit_index"] == 0
    assert any("16 patches" in m.value for m in at.markdown)
