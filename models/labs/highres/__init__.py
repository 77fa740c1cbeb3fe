"""The high-resolution attention lab: Swin's windows and shifted windows, GLAM's global tokens, FINE's memory and
deformable attention against full attention's O(N^2): what each reaches, what each costs, and a long-range task
trained live on which they differ as the lecture says."""
