"""SeqLab's model package, usable without the app (nothing here imports streamlit or plotly).

- ``core``: the training engine, devices, checkpoints, evaluation, the registry of labs and ``make pretrain``.
- ``blocks``: what several labs share, each idea once: attention, the transformer encoder, positional
  encodings, the recurrent cells, the U-Net backbone, patch embedding.
- ``data``: task generators and readers of data that installed packages ship.
- ``labs.<key>``: only what is particular to one lab: its spec, spec -> trainer, analysis, pretrain recipe.

Every module runs on CUDA when it is available and on the CPU otherwise (see :mod:`models.core.device`).
"""
