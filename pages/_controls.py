"""A lab's settings and lecture presets, declared once: each :class:`Control` is a widget bound to the URL
with its key, label, default and bounds; :class:`Controls` holds a lab's controls and presets, checks every
preset against them, gives every control its default, draws them, and applies a preset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class Control:
    """One widget: ``widget`` is slider, select_slider, selectbox, segmented, radio, toggle, number or text;
    ``options`` are a selection's choices, ``bounds`` a slider's or number's (min, max, step)."""

    key: str
    label: str
    default: Any
    widget: str = "slider"
    options: tuple = ()
    bounds: tuple = ()
    format: Callable[[Any], str] | None = None
    help: str | None = None
    bind: bool = True
    on_change: Callable[[], None] | None = None

    def accepts(self, value: Any) -> bool:
        if self.options:
            return value in self.options
        if self.bounds:
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and self.bounds[0] <= value <= self.bounds[1]
            )
        if self.widget == "toggle":
            return isinstance(value, bool)
        return isinstance(value, str)

    def show(self, where=st, default: Any = None) -> Any:
        """Draw the widget in ``where`` (the page, a column, the sidebar) and return its value. The widget's own
        default is ``default`` (else the declared one): a bound widget leaves its value out of the URL when it
        equals that default, so it must be the value a fresh session starts from."""
        default = self.default if default is None else default
        common = {
            "key": self.key,
            "help": self.help,
            "bind": "query-params" if self.bind else None,
            "on_change": self.on_change,
        }
        choices = {"options": list(self.options), "format_func": self.format or str}
        if self.widget == "slider":
            low, high, step = self.bounds
            return where.slider(self.label, low, high, value=default, step=step, **common)
        if self.widget == "number":
            return self._checked_number(where, common | {"value": default})
        if self.widget == "toggle":
            return where.toggle(self.label, value=default, **common)
        if self.widget == "text":
            return where.text_input(self.label, value=default, max_chars=500, **common)
        if self.widget == "segmented":
            return where.segmented_control(self.label, required=True, default=default, **choices, **common)
        if self.widget == "select_slider":
            return where.select_slider(self.label, value=default, **choices, **common)
        index = self.options.index(default)
        if self.widget == "radio":
            return where.radio(self.label, horizontal=True, index=index, **choices, **common)
        return where.selectbox(self.label, index=index, **choices, **common)

    def _checked_number(self, where, common: dict) -> Any:
        """A typed number outside the bounds is refused with a message (Streamlit's own bounds would only
        outline the box in red and keep the old value); the last accepted value stays in use."""
        low, high, step = self.bounds
        value = where.number_input(self.label, step=step, **common)
        accepted = f"_{self.key}_accepted"
        if low <= value <= high:
            st.session_state[accepted] = value
            return value
        kept = st.session_state.get(accepted, self.default)
        where.error(f"{self.label}: {value:g} is outside {low:g} to {high:g}; still showing {kept:g}.")
        return kept


CURRENT_PAGE = "_current_page"  # app.py keeps the page being run here, for the redirect below


class Controls:
    """A lab's controls and its lecture presets ({button label: {control key: value}})."""

    def __init__(self, controls: list[Control], presets: dict[str, dict[str, Any]] | None = None):
        self.controls = {control.key: control for control in controls}
        self.presets = presets or {}
        self.defaults = {key: control.default for key, control in self.controls.items()}
        for name, values in self.presets.items():
            for key, value in values.items():
                if key not in self.controls or not self.controls[key].accepts(value):
                    raise ValueError(f"preset {name!r} sets {key} to {value!r}, which its control does not accept")

    def __getitem__(self, key: str) -> Control:
        return self.controls[key]

    def init(self, defaults: dict[str, Any] | None = None) -> None:
        """Give every control that neither the URL nor this session has set its default (``defaults`` override
        the declared ones). A selection in the URL may name an option or its label (bound widgets write the
        label); a value that names neither, or a number that is malformed or out of bounds, is dropped with a
        warning, so the control keeps a valid value."""
        self.defaults.update(defaults or {})
        self._name_links_to_labels()
        for key, control in self.controls.items():
            if control.options and key in st.query_params:
                self._read_option(control)
            elif control.bounds and key in st.query_params:
                self._read_bounded(control)
            if key not in st.query_params:
                st.session_state.setdefault(key, self.defaults[key])

    def _name_links_to_labels(self) -> None:
        """A link may name a selection by its option (``?rnn_cell=gru``) where the widget writes its label
        (``GRU``); Streamlit would drop the name from the address bar, so reload the page with the label."""
        labels = {}
        for key, control in self.controls.items():
            if control.options and key in st.query_params:
                by_name = {str(option): (control.format or str)(option) for option in control.options}
                if st.query_params[key] in by_name and st.query_params[key] not in by_name.values():
                    labels[key] = by_name[st.query_params[key]]
        if labels and CURRENT_PAGE in st.session_state:
            st.switch_page(st.session_state[CURRENT_PAGE], query_params=st.query_params.to_dict() | labels)

    @staticmethod
    def _read_option(control: Control) -> None:
        value = st.query_params[control.key]
        labels = {(control.format or str)(option) for option in control.options}
        names = {str(option): option for option in control.options}
        if value in labels:
            return
        if value in names:
            st.session_state[control.key] = names[value]
            return
        st.warning(f"The link's {control.label.lower()} is not one of the choices; using the default.")
        del st.query_params[control.key]

    @staticmethod
    def _read_bounded(control: Control) -> None:
        """A link's number that is malformed or outside the control's bounds is dropped with a warning (the
        widget would drop it silently), so the control keeps its default."""
        low, high, _ = control.bounds
        try:
            value = float(st.query_params[control.key])
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            bounds = f"a number from {low:g} to {high:g}"
            st.warning(f"The link's {control.label.lower()} is not {bounds}; using the default.")
            del st.query_params[control.key]

    def requested(self, key: str) -> Any:
        """The value the URL or this session asks for (before the widgets are drawn), else the default."""
        control = self.controls[key]
        if key in st.query_params and control.options:
            by_label = {(control.format or str)(option): option for option in control.options}
            by_name = {str(option): option for option in control.options}
            return by_label.get(st.query_params[key], by_name.get(st.query_params[key], control.default))
        return st.session_state.get(key, control.default)

    def show(self, key: str, where=st) -> Any:
        return self.controls[key].show(where, self.defaults[key])

    def row(self, *keys: str, widths: list[float] | None = None) -> list[Any]:
        """Draw the controls ``keys`` side by side in one row of columns; returns their values in order. In
        presenter mode they go one under the other into the sidebar, so the main area keeps the figures."""
        if st.session_state.get("presenter"):
            return [self.show(key, st.sidebar) for key in keys]
        columns = st.columns(widths or len(keys))
        return [self.show(key, column) for key, column in zip(keys, columns, strict=True)]

    def apply(self, name: str) -> None:
        """Set every control to the preset's value, or back to its default (a preset resets what it does not set)."""
        values = self.presets[name]
        st.session_state.update({key: values.get(key, self.defaults[key]) for key in self.controls})

    def preset_buttons(self, prefix: str, names: tuple[str, ...] | None = None, label: str = "Lecture") -> None:
        """One button per preset (or per preset in ``names``), side by side."""
        names = names or tuple(self.presets)
        label = "" if st.session_state.get("presenter") else label  # the icon says it on a projector
        for column, name in zip(st.columns(len(names)), names, strict=True):
            column.button(
                f"{label}: {name}" if label else name,
                on_click=self.apply,
                args=(name,),
                icon=":material/slideshow:",
                key=f"{prefix}_p_{name}",
            )
