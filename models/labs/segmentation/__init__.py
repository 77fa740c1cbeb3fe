"""The segmentation lab: U-Net vs Attention U-Net vs U-Transformer on CT-like slices where only distant
evidence decides, the slide's four panels, attention per pixel, receptive fields, trained live."""
