"""The RNN applications lab: the lecture's mapping of tasks to shapes, trained live. One-to-many and many-to-many:
a character language model on the lexicon's words; many-to-many with different lengths: an encoder-decoder with
and without attention; synchronised many-to-many on video: a ConvLSTM (Shi et al. 2015) against a copy-the-last-
frame baseline and a per-frame CNN."""
