"""One package per lab, holding only what is particular to it: its spec (the settings of a run), the function
that turns a spec into a trainer, its analysis and its ``pretrain`` recipe. The registry of labs is
:mod:`models.core.registry`."""
