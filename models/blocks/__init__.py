"""Building blocks every lab shares, each idea written once: attention, the transformer encoder, positional
encodings, the recurrent cells, U-Net blocks and patch embedding; for attention at high resolution, Swin's window
attention with shifted windows and patch merging (``windows``), GLAM's global tokens (``global_tokens``), FINE's
memory across crops (``memory``) and CoTr's deformable attention (``deformable``)."""
