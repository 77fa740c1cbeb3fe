"""AppTest of the RNN lab page: pretrained view at once, every task, architectures, typed words, presets, training."""

from streamlit.testing.v1 import AppTest

from tests.conftest import APP_TIMEOUT, ROOT, assert_clean, job_of, open_page

PAGE = "pages/rnn.py"


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


def _text(at) -> str:
    return " ".join(str(m.value) for m in at.markdown) + " ".join(str(m.value) for m in at.info)


def test_default_view_and_typed_words():
    at = open_page(PAGE)
    assert_clean(at)
    assert "pretrained (" in at.info[0].value
    assert "**deep** →" in _text(at) and "the lexicon says **adjective**" in _text(at)
    assert _charts(at) >= 8
    bad_words = {
        "": "type a word",
        "deep learning": "one word",
        "d33p": "digits",
        "日本": "letters a-z",
        "a" * 500: "at most",
    }
    for word, message in bad_words.items():
        at.text_input(key="rnn_word").input(word).run()
        assert not at.exception
        assert any(message in e.value for e in at.error), (word, [e.value for e in at.error])
    at.text_input(key="rnn_word").input("Quickly").run()
    assert_clean(at)
    assert "**quickly**" in _text(at)
    assert any("lower-cased" in c.value for c in at.caption)


def test_every_task_and_cell_shows_a_pretrained_model():
    at = open_page(PAGE)
    for task in ("running_sum", "sum_comparison", "recall", "recall_long"):
        at.selectbox(key="rnn_task").set_value(task).run()
        assert_clean(at)
        assert "pretrained (" in at.info[0].value, (task, at.info[0].value)
        assert "needs the part-of-speech task" in _text(at)
        assert _charts(at) >= 7
    for cell in ("rnn", "gru"):
        at.session_state["rnn_cell"] = cell
        at.run()
        assert_clean(at)
        assert "pretrained (" in at.info[0].value


def test_deep_bidirectional_net_without_checkpoint_shows_an_untrained_view():
    at = open_page(PAGE, rnn_layers=3, rnn_bidir=True, rnn_cell="gru", rnn_hidden=16)
    assert_clean(at)
    assert "untrained" in at.info[0].value
    at.selectbox(key="rnn_layer_3").set_value(2).run()
    assert_clean(at)


def test_lecture_presets_set_the_task():
    at = open_page(PAGE, rnn_task="recall")
    at.button(key="rnn_p_Long range: RNN vs LSTM").click().run()
    assert_clean(at)
    assert at.session_state["rnn_task"] == "recall_long" and at.session_state["rnn_gap"] == 120
    assert "vanilla RNN" in at.info[0].value and "pretrained (" in at.info[0].value
    at.button(key="rnn_p_Computing sum").click().run()
    assert_clean(at)
    assert at.session_state["rnn_task"] == "running_sum"
    at.button(key="rnn_p_'deep' => adj").click().run()
    assert at.session_state["rnn_task"] == "pos" and at.session_state["rnn_word"] == "deep"
    titles = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "Which letters make 'deep' an adjective?" in titles  # the slide's class, whatever the model predicts


def test_training_controls():
    at = open_page(PAGE, rnn_tbptt=5)
    at.button(key="rnn_start").click().run()
    assert not at.exception
    assert any("truncated BPTT" in e.value for e in at.error)
    at.session_state["rnn_task"] = "sum_comparison"
    at.session_state["rnn_hidden"] = 8
    at.session_state["rnn_steps"] = 50
    at.run()
    at.button(key="rnn_start").click().run()
    assert_clean(at)
    assert job_of(at, "rnn").snapshot.step > 0
    at = open_page(PAGE, rnn_task="running_sum", rnn_hidden=8, rnn_steps=50)
    at.button(key="rnn_cmp_start").click().run()
    assert_clean(at)
    assert job_of(at, "rnn_cmp").snapshot.step > 0


def test_teaching_a_word_shows_what_the_lesson_changed():
    at = open_page(PAGE)
    assert at.selectbox(key="rnn_teach_class").value == 2  # the lexicon's class of "deep": adjective
    at.button(key="rnn_teach").click().run()
    assert_clean(at)
    assert "Held-out accuracy after the lesson" in [m.label for m in at.metric]
    assert "Training words that end like 'deep'" in _text(at)
    at.selectbox(key="rnn_explain").set_value(2).run()
    assert_clean(at)
    titles = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "Which letters make 'deep' an adjective? (Integrated Gradients)" in titles
    assert "After the lesson: which letters make 'deep' an adjective?" in titles


def _open_with_link(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=APP_TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_a_link_may_name_the_task_and_cell_and_an_unknown_one_gets_a_warning():
    at = _open_with_link(rnn_task="recall_long", rnn_cell="rnn")
    assert not at.exception and not at.warning
    assert at.session_state["rnn_task"] == "recall_long" and at.session_state["rnn_cell"] == "rnn"
    assert at.session_state["rnn_hidden"] == 32 and at.session_state["rnn_gap"] == 120
    assert "pretrained (" in at.info[0].value
    at = _open_with_link(rnn_task="nope")
    assert not at.exception
    assert "The link's task is not one of the choices" in at.warning[0].value
    assert at.session_state["rnn_task"] == "pos"


def test_a_preset_resets_the_input_shown():
    at = open_page(PAGE)
    at.selectbox(key="rnn_example_pos").set_value(3).run()
    at.button(key="rnn_p_Computing sum").click().run()
    assert_clean(at)
    assert at.selectbox(key="rnn_example_running_sum").value == 0
    assert at.session_state["rnn_steps"] == 800 and at.session_state["rnn_lr"] == 0.01


def test_the_gru_view_states_how_torchs_candidate_differs_from_the_slides():
    at = open_page(PAGE, rnn_task="sum_comparison", rnn_cell="gru", rnn_hidden=32)
    assert_clean(at)
    notes = " ".join(c.value for c in at.caption)
    assert "the model uses torch's form" in notes and "differs from it by up to" in notes
    titles = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "candidate as the slide writes it" in titles


def test_the_pos_view_states_training_and_held_out_accuracy():
    at = open_page(PAGE)
    assert "accuracy on held-out words" in at.info[0].value and "training words" in at.info[0].value
    assert "**deep** → **adjective**" in _text(at)
