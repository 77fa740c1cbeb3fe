"""AppTest of the positional-encoding lab: its sliders, preset, live training, a diverged run, presenter mode."""

import pytest
from streamlit.testing.v1 import AppTest

from models.core.engine import TrainConfig
from models.labs.positional.spec import PositionalRun, build_trainer
from tests.conftest import APP_TIMEOUT, ROOT, assert_clean, job_of, open_page, submitted

PAGE = "pages/positional.py"


def test_pe_sliders_drive_the_figures():
    at = open_page("pages/positional.py")
    at.slider(key="pe_d").set_value(256).run()
    at.slider(key="pe_len").set_value(300).run()
    assert_clean(at)
    assert "d/2 = **128**" in " ".join(m.value for m in at.markdown)


def test_lecture_preset_reproduces_the_slide():
    at = open_page("pages/positional.py")
    at.slider(key="pe_d").set_value(512).run()
    at.button[0].click().run()
    assert at.slider(key="pe_d").value == 128 and at.slider(key="pe_len").value == 50
    assert_clean(at)


def test_train_live_starts_a_trainer_and_stop_ends_it():
    at = open_page("pages/positional.py")
    at.button(key="pe_start").click().run()
    assert job_of(at, "pe").snapshot.step > 0 and not at.exception
    at.run()
    at.button(key="pe_stop").click().run()
    assert job_of(at, "pe").snapshot.status == "stopped"
    assert any("stopped by the user" in w.value for w in at.warning)


def test_diverged_training_shows_its_reason_not_a_traceback():
    trainer = build_trainer(PositionalRun("learned", TrainConfig(steps=50)), device="cpu")
    step = trainer.step_fn

    def exploding(model, batch, context):
        output = step(model, batch, context)
        output.loss = output.loss * (float("inf") if context.step >= 3 else 1.0)
        return output

    trainer.step_fn = exploding
    job = submitted(trainer)
    at = open_page("pages/positional.py", pe_job=job)
    assert not at.exception
    assert job.snapshot.status == "diverged"
    assert any("Training stopped: loss became inf at step 4" in e.value for e in at.error)


def test_presenter_mode_hides_secondary_controls_from_the_main_area():
    at = open_page("pages/positional.py", presenter=True)
    assert_clean(at)
    assert any("presenter mode" in e.label for e in at.sidebar.expander)


def test_a_run_that_learns_nothing_says_so_in_amber_with_a_likely_cause():
    trainer = build_trainer(PositionalRun("learned", TrainConfig(steps=30, lr=10.0)), device="cpu")
    job = submitted(trainer)
    assert job.snapshot.status == "finished"
    at = open_page("pages/positional.py", pe_job=job)
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "learned nothing" in warnings and "learning rate (10) is likely too high" in warnings
    assert not any("Training finished" in s.value for s in at.success)


def test_an_invalid_typed_value_is_refused_with_a_message():
    at = open_page("pages/positional.py")
    at.number_input(key="pe_base").set_value(-5.0).run()
    assert not at.exception
    assert any("-5 is outside 1 to 1e+06" in e.value for e in at.error)
    assert "base 10000" in " ".join(chart.proto.spec for chart in at.get("plotly_chart"))


@pytest.mark.parametrize("value", ["99999", "0", "abc", "1e400"])
def test_a_links_number_out_of_bounds_or_malformed_falls_back_with_a_note(value):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=APP_TIMEOUT)
    at.query_params["pe_len"] = value
    at.query_params["pe_d"] = "256"
    at.run()
    assert not at.exception
    assert "The link's number of positions is not a number from 1 to 2048" in at.warning[0].value
    assert at.session_state["pe_len"] == 50 and at.session_state["pe_d"] == 256  # the valid one is kept
