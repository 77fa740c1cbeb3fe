"""Building blocks every lab shares, each idea written once: attention, the transformer encoder, positional
encodings, the recurrent cells, U-Net blocks and patch embedding."""
