"""SeqLab's model package: modules, tasks, the training engine and analysis.

Usable without the app: nothing here imports streamlit or plotly. Every module runs on CUDA
when it is available and on the CPU otherwise (see :mod:`models.device`).
"""
