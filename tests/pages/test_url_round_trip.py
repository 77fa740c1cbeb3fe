"""Every URL-bound setting of every lab survives a round trip through the address bar: a link that sets it
to another valid value opens the page with the widget at that value, and the address keeps it."""

import pytest
from streamlit.testing.v1 import AppTest

from models.core.registry import LABS
from tests.conftest import APP_TIMEOUT, ROOT, assert_clean, open_page

KINDS = ("slider", "select_slider", "selectbox", "radio", "toggle", "number_input", "button_group")


def bound_widgets(at: AppTest) -> list:
    return [w for kind in KINDS for w in at.get(kind) if getattr(w.proto, "query_param_key", "")]


def other_value(widget) -> str | None:
    """Another valid value of ``widget`` as a link writes it (a selection's label, a number, true/false)."""
    proto = widget.proto
    labels = [getattr(o, "content", o) for o in getattr(proto, "options", [])]
    if labels:
        current = widget.format_func(widget.value) if hasattr(widget, "format_func") else str(widget.value)
        if isinstance(widget.value, list):
            current = widget.format_func(widget.value[0]) if widget.value else None
        others = [label for label in labels if label != current]
        return others[-1] if others else None
    if widget.type == "toggle" or type(widget).__name__ == "Toggle":
        return "false" if widget.value else "true"
    high, step = proto.max, proto.step or 1
    value = widget.value + step if widget.value + step <= high else widget.value - step
    return f"{value:g}" if isinstance(value, float) and not float(value).is_integer() else str(int(value))


def shown(widget) -> str:
    value = widget.value[0] if isinstance(widget.value, list) else widget.value
    if getattr(widget.proto, "options", None):
        return widget.format_func(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) and not float(value).is_integer() else str(int(value))


@pytest.mark.parametrize("lab", LABS, ids=[lab.key for lab in LABS])
def test_every_bound_setting_survives_the_address_bar(lab):
    at = open_page(lab.page)
    widgets = {w.proto.query_param_key: w for w in bound_widgets(at)}
    assert widgets, "a lab binds its settings to the URL"
    failures = []
    for key, widget in widgets.items():
        value = other_value(widget)
        if value is None:
            continue
        linked = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
        linked.query_params[key] = value
        linked.run()
        linked.switch_page(lab.page).run()
        assert not linked.exception, (key, value, [e.value for e in linked.exception])
        again = {w.proto.query_param_key: w for w in bound_widgets(linked)}
        if key not in again:
            continue  # another setting hides it (a task without that knob)
        if shown(again[key]) != value or linked.query_params.get(key) != value:
            failures.append((key, value, shown(again[key]), linked.query_params.get(key)))
    assert not failures, failures


def test_a_link_may_name_an_option_instead_of_its_label_and_keeps_it():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    at.query_params["rnn_cell"] = "gru"
    at.run()
    at.switch_page("pages/rnn.py").run()
    assert_clean(at)
    assert at.session_state["rnn_cell"] == "gru" and at.query_params.get("rnn_cell") == "GRU"
