"""The engine and what every lab shares that is not a model: device, checkpoints, evaluation, the lab registry."""
