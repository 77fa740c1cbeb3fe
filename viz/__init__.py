"""Pure figure builders: arrays (or the trace dataclasses of ``models``) in, plotly Figures out."""
