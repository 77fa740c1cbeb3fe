"""AppTest: the app, its home page and the positional-encoding lab run without exceptions and respond."""

import pytest

from models.engine import TrainConfig, Trainer
from models.order_task import OffsetCopyTask, build_model, offset_copy_step
from pages._labs import LABS
from tests.conftest import assert_clean, open_page


def test_home_maps_the_lecture_to_every_lab():
    at = open_page()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Navigate by slide" in " ".join(s.value for s in at.subheader)
    assert "Positional encoding" in text
    assert at.sidebar.toggle(key="presenter") is not None and at.sidebar.number_input(key="seed").value == 0


@pytest.mark.parametrize("lab", LABS, ids=[lab.key for lab in LABS])
def test_every_lab_page_runs(lab):
    at = open_page(lab.path)
    assert_clean(at)
    assert at.title[0].value == lab.title


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
    trainer = at.session_state["pe_trainer"]
    assert trainer.step > 0 and not at.exception
    at.button(key="pe_stop").click().run()
    assert at.session_state["pe_trainer"].status == "stopped"
    assert any("stopped by the user" in w.value for w in at.warning)


def test_diverged_training_shows_its_reason_not_a_traceback():
    task = OffsetCopyTask()

    def exploding(model, batch, context):
        output = offset_copy_step(model, batch, context)
        output.loss = output.loss * (float("inf") if context.step >= 3 else 1.0)
        return output

    trainer = Trainer(build_model("learned"), exploding, task.sample, TrainConfig(steps=50), device="cpu")
    at = open_page("pages/positional.py", pe_trainer=trainer)
    assert not at.exception
    assert trainer.status == "diverged"
    assert any("Training stopped: loss became inf at step 4" in e.value for e in at.error)


def test_presenter_mode_hides_secondary_controls_from_the_main_area():
    at = open_page("pages/positional.py", presenter=True)
    assert_clean(at)
    assert any("presenter mode" in e.label for e in at.sidebar.expander)


def _two_live_trainings_script():
    """Panel "a" trains a fake run that ends on its second tick; the button of panel "b" sits below it."""
    import streamlit as st

    from models.engine import TrainConfig
    from pages import _ui

    class EndsOnSecondTick:
        def __init__(self):
            self.ticks, self.config, self.stop_reason = 0, TrainConfig(steps=2), "finished"

        step = property(lambda self: self.ticks)
        done = property(lambda self: self.ticks >= 2)
        status = property(lambda self: "finished" if self.done else "running")

        def run_for(self, seconds):
            self.ticks += 1

        def request_stop(self):
            self.ticks = 2

    _ui.live_training("a", EndsOnSecondTick, lambda trainer: st.write(f"a at {trainer.step}"))
    _ui.live_training("b", EndsOnSecondTick, lambda trainer: st.write(f"b at {trainer.step}"), start_label="Start b")


def test_a_run_ending_in_the_same_rerun_does_not_swallow_another_click():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_two_live_trainings_script).run()
    at.button(key="a_start").click().run()
    assert at.session_state["a_trainer"].step == 1
    at.button(key="b_start").click().run()  # "a" ends during this rerun
    assert at.session_state["a_trainer"].done
    assert "b_trainer" in at.session_state and at.session_state["a_refresh"]
