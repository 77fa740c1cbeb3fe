"""The ViT lab: a small Vision Transformer on scikit-learn's 8x8 digits, what its CLS token attends to, and
attention beside Integrated Gradients."""
