"""The training step of the recipe: cross-entropy (label-smoothed or not), Momentum (weight decay on biases and
BatchNorm parameters or not), a per-step learning rate, and mixed precision with the loss scaling each device
supports. `build_train_network` returns the cell that `mindspore.train.Model` runs and checkpoints (the epoch's
end: src/engine/epoch_end.py).
"""
import mindspore as ms
from mindspore import amp, nn

from src.models import CLASSIFIER

# Mixed precision when the user leaves it to us: float16 pays off on accelerators; on a CPU it is slower.
AUTO_AMP_LEVEL = {'Ascend': 'O2', 'GPU': 'O2', 'CPU': 'O0'}
NO_DECAY_SUFFIXES = ('.bias', '.gamma', '.beta')


def amp_level(cfg, device_target):
    """The mixed-precision level of a run on `device_target` (resolved: Ascend, GPU or CPU)."""
    return AUTO_AMP_LEVEL[device_target] if cfg.amp_level == 'auto' else cfg.amp_level


def parameter_groups(net, weight_decay, decay_bn_and_bias=False):
    """Weight decay on conv and dense weights only, as the original port's recipe prescribes, or on every
    parameter, as the authors' recipe has it."""
    params = net.trainable_params()
    if decay_bn_and_bias:
        return [{'params': params, 'weight_decay': weight_decay}]
    no_decay = [p for p in params if p.name.endswith(NO_DECAY_SUFFIXES)]
    decay = [p for p in params if not p.name.endswith(NO_DECAY_SUFFIXES)]
    return [{'params': decay, 'weight_decay': weight_decay},
            {'params': no_decay, 'weight_decay': 0.0},
            {'order_params': params}]


def loss_scaling(cfg, level, device_target):
    """(loss-scale manager or None, the optimizer's loss_scale).

    Accelerators skip the update of a step whose gradients overflow: with a dynamic scale by default, or a
    fixed one. The CPU backend has no overflow check: it takes only a fixed scale that never skips, divided
    back out by the optimizer (any other combination turns the loss into NaN there).
    """
    if level == 'O0':
        return None, 1.0
    scale = float(cfg.loss_scale)
    if device_target == 'CPU':
        return ms.FixedLossScaleManager(scale, drop_overflow_update=False), scale
    if cfg.is_dynamic_loss_scale:
        return ms.DynamicLossScaleManager(init_loss_scale=scale, scale_factor=2, scale_window=2000), 1.0
    return ms.FixedLossScaleManager(scale, drop_overflow_update=True), 1.0


def loss_function(cfg):
    # The dense form: MindSpore's sparse softmax cross-entropy returns inf on the CPU once a target's
    # probability underflows, although the gradients stay finite.
    return nn.CrossEntropyLoss(label_smoothing=cfg.label_smooth_factor if cfg.use_label_smooth else 0.0)


def build_train_network(cfg, net, learning_rates, device_target):
    """The one-step training cell for `net` on `device_target` (cfg: amp_level, loss_scale, is_dynamic_loss_scale,
    keep_batchnorm_fp32, momentum, weight_decay, decay_bn_and_bias, label smoothing); `learning_rates` holds one
    rate per step of the whole run."""
    level = amp_level(cfg, device_target)
    manager, optimizer_loss_scale = loss_scaling(cfg, level, device_target)
    optimizer = nn.Momentum(parameter_groups(net, cfg.weight_decay, cfg.decay_bn_and_bias),
                            learning_rate=ms.Tensor(learning_rates), momentum=cfg.momentum,
                            loss_scale=optimizer_loss_scale)
    options = {'keep_batchnorm_fp32': cfg.keep_batchnorm_fp32} if level != 'O0' else {}
    if manager is not None:
        options['loss_scale_manager'] = manager
    return amp.build_train_network(net, optimizer, loss_function(cfg), level=level, **options)


def train_classifier_only(net):
    """Linear probing: only the classifier (fc) learns. Every other parameter stops taking gradients, and every
    BatchNorm normalises with its moving statistics and stops updating them, so the features the classifier learns
    from are exactly those of the loaded network, in training as in evaluation."""
    for param in net.get_parameters():
        if param.name not in CLASSIFIER:
            param.requires_grad = False
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            cell.use_batch_statistics = False
