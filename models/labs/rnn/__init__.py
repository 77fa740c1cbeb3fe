"""The RNN lab: vanilla RNN, LSTM and GRU on the lecture's tasks (part of speech of a word, running sum, sum
comparison, long-range recall), their hidden states, gates and trajectories, trained live."""
