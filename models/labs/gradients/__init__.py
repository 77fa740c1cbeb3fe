"""The gradient lab: ||dh_t/dh_k|| of a vanilla RNN against the bound (beta_w beta_h)^(t-k), W's spectrum, and
gradients during training (clipping, truncated BPTT, RNN vs LSTM vs GRU against the dependency length)."""
