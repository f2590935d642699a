"""Learning rate per training step (--lr_scheduler): optional linear warm-up to lr_init, then one of
- cosine_annealing: a half cosine down to eta_min that stays at eta_min once its period ends (the original ran
  past the period and rose again);
- step: lr_init multiplied by `step_factor` every `step_epochs` epochs of the run (the authors' ImageNet recipe:
  divided by 10 every 30 epochs);
- constant: lr_init throughout (fine-tuning and linear probes often take one)."""
import math

import numpy as np


def learning_rates(scheduler, *, lr_init, eta_min, steps_per_epoch, epochs, warmup_epochs=0, t_max_epochs=0,
                   step_epochs=30, step_factor=0.1):
    """One learning rate for each step of the run (float32 array of epochs * steps_per_epoch). `t_max_epochs` is
    the cosine period after warm-up, 0 meaning the rest of the run."""
    total = epochs * steps_per_epoch
    warmup = warmup_epochs * steps_per_epoch
    period = (t_max_epochs * steps_per_epoch) if t_max_epochs else total - warmup
    rates = np.empty(total, dtype=np.float32)
    for step in range(total):
        if step < warmup:
            rates[step] = lr_init * (step + 1) / warmup
        elif scheduler == 'constant':
            rates[step] = lr_init
        elif scheduler == 'step':
            rates[step] = lr_init * step_factor ** (step // steps_per_epoch // step_epochs)
        else:
            progress = min(step - warmup, period) / period
            rates[step] = eta_min + (lr_init - eta_min) * (1 + math.cos(math.pi * progress)) / 2
    return rates
