"""Segmentation architectures beside U-Net and U-Transformer, each a small faithful form on the package's shared
blocks: TransUNet (CNN encoder, ViT on its map, cascaded upsampler with skips), SETR (pure ViT on patches with
the naive, progressive-upsampling and multi-level-aggregation decoders), Swin-UNet and GLAM-Swin-UNet (the
high-resolution lab's window attention and global tokens). Each returns its internals from ``trace(x)``."""
