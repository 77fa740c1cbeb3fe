"""The attention lab: self-attention step by step on typed words, and a tiny transformer's heads on toy tasks
(reverse, offset copy, sort, count), with PE on and off, trained live."""
