"""What a network costs: its trainable parameters, and the multiply-adds of one image's forward pass in its
convolutions and dense layers (how the BAM and CBAM papers count "FLOPs"; BatchNorm, activations, pools and the
attention maps' element-wise products are left out), counted on a real forward pass."""
import numpy as np


def forward_with_hooks(net, cell_types, hook, *, image_height, image_width):
    """One forward pass of one zero image in eval mode with `hook` (cell, inputs, output) on every cell of
    `cell_types`, in PyNative mode, where cells call their hooks; the mode in force is restored."""
    import mindspore as ms

    mode = ms.get_context('mode')
    ms.set_context(mode=ms.PYNATIVE_MODE)
    handles = [cell.register_forward_hook(hook) for _, cell in net.cells_and_names() if isinstance(cell, cell_types)]
    try:
        net.set_train(False)
        net(ms.Tensor(np.zeros((1, 3, image_height, image_width), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=mode)


def multiply_adds(net, image_height, image_width):
    """Multiply-adds of every convolution and dense layer of `net` for one image of this size."""
    from mindspore import nn

    counts = []

    def count(cell, _inputs, output):
        if isinstance(cell, nn.Conv2d):
            counts.append(output.size * cell.in_channels // cell.group * int(np.prod(cell.kernel_size)))
        else:
            counts.append(output.size * cell.in_channels)

    forward_with_hooks(net, (nn.Conv2d, nn.Dense), count, image_height=image_height, image_width=image_width)
    return sum(counts)


def parameter_count(net):
    """Trainable parameters of `net` (BatchNorm's moving statistics are not among them)."""
    return sum(int(np.prod(param.shape)) for param in net.trainable_params())
