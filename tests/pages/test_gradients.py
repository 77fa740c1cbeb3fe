"""The gradient lab's page in AppTest: loads clean, presets, the largest sizes, live training, bad settings."""

import json

from tests.conftest import assert_clean, job_of, open_page

PAGE = "pages/gradients.py"


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def titles(at) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in charts(at)]


def test_page_loads_with_figures():
    at = open_page(PAGE)
    assert_clean(at)
    shown = titles(at)
    assert any("dh_t/dh_k" in t for t in shown)
    assert any("Eigenvalues of W" in t for t in shown)
    assert any("Decay with t - k" in t for t in shown)
    assert any("dependency length" in t for t in shown)  # pretrained RNN vs LSTM vs GRU


def test_lecture_presets_name_the_regime():
    at = open_page(PAGE)
    at.button[0].click().run()  # vanishing
    assert_clean(at)
    assert any("vanishing" in t for t in titles(at))
    at.button[1].click().run()  # exploding
    assert_clean(at)
    assert any("exploding" in t for t in titles(at))


def test_largest_size_is_computed_on_a_coarser_grid_and_says_so():
    at = open_page(PAGE)
    at.slider(key="gr_T").set_value(200)
    at.slider(key="gr_H").set_value(128).run()
    assert_clean(at)
    assert any("every" in t and "th k" in t for t in titles(at))


def test_explode_preset_trains_and_stops_with_a_reason():
    at = open_page(PAGE)
    at.button(key="gr_start")  # exists before any training
    explode = next(b for b in at.button if b.label.startswith("Explode (no"))
    explode.click().run()
    at.slider(key="gr_steps").set_value(20).run()
    at.button(key="gr_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = job_of(at, "gr", until="ended").snapshot
    assert run.status == "diverged" and "became" in run.stop_reason


def test_the_gate_biases_the_page_states_are_the_ones_the_models_start_with():
    from dataclasses import replace

    from models.labs.gradients.pretrain import COMPARISON, COMPARISON_GAPS
    from models.labs.gradients.spec import build_model

    at = open_page(PAGE)
    text = " ".join(m.value for m in at.markdown)
    bias = build_model(replace(COMPARISON, cell="lstm", gap=max(COMPARISON_GAPS))).body.keep_gate_bias()
    assert f"from {float(bias.min()):.2f} to {float(bias.max()):.2f}" in text
    assert "chrono initialisation" in text
    captions = " ".join(c.value for c in at.caption)
    assert "Measured, runs that reached 90% test accuracy: vanilla RNN" in captions


def test_the_explode_preset_shows_the_explosion_and_clipping_beside_it():
    at = open_page(PAGE)
    next(b for b in at.button if b.label.startswith("Explode (no")).click().run()
    at.slider(key="gr_steps").set_value(60).run()
    at.button(key="gr_start").click().run()
    assert job_of(at, "gr", until="ended").snapshot.status == "diverged"
    spec = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "overflow at step" in spec and "(no clipping)" in spec
    next(b for b in at.button if b.label.startswith("Explode + clipping")).click().run()
    at.slider(key="gr_steps").set_value(60).run()
    at.button(key="gr_start").click().run()
    assert job_of(at, "gr", until="ended").snapshot.status == "finished"
    spec = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "previous run (no clipping)" in spec and "clipping threshold 1" in spec


def test_the_bound_is_described_as_an_upper_bound_and_the_eigenvalue_counterexample_is_given():
    at = open_page(PAGE)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "it proves nothing: it is an upper bound" in text  # scale 1: beta_w beta_h = 1
    assert "(named from the measurement)" in text and "**vanishing**" in text
    assert "||W^3|| = 2.26" in text and "0.5^3 = 0.125" in text
