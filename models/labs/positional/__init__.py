"""The positional-encoding lab: the lecture's sinusoidal P, its similarity K = P P^T and their closed forms,
and learned vs sinusoidal encodings of a tiny transformer trained live on an order task (offset copy)."""
