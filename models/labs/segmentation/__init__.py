"""The segmentation lab: U-Net, Attention U-Net, U-Transformer, TransUNet, SETR, Swin-UNet and GLAM-Swin-UNet on the
same images (a striped key only distant evidence decides, a local control, real brain MRI slices): the lecture's
panels, attention per pixel, receptive fields, scores and cost, trained live."""
