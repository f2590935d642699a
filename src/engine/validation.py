"""Top-1/top-5 accuracy over every image of a validation set, also when its shards are spread over the
devices of a data-parallel group: each process counts its own shard and the counts are summed."""
import numpy as np

import mindspore as ms
from mindspore import nn, ops

from src.engine.metrics import TOP_K, count_correct


class NonFiniteLogitsError(ValueError):
    """The network gave NaN or infinite logits: such outputs are not answers and are not scored."""


class _SumOverGroup(nn.Cell):
    def __init__(self):
        super().__init__()
        self.all_reduce = ops.AllReduce()

    def construct(self, counts):
        return self.all_reduce(counts)


def evaluate(net, dataset, group_size=1, progress=None):
    """{'top1', 'top5', 'images'} of `net` (switched to inference mode) over `dataset`'s (image, label)
    batches; with group_size > 1 every process must call it, each with its own shard. `progress` (a
    src.utils.progress.Progress) is advanced by each batch's images."""
    net.set_train(False)
    counts = np.zeros(len(TOP_K) + 2, dtype=np.float32)  # exact up to 2**24 images
    batch_size = None
    for images, labels in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
        scored = len(images)
        batch_size = batch_size or scored
        if scored < batch_size:
            # The last batch, padded to the others' size and its padding dropped: in graph mode a batch of
            # another size is another graph to compile (about as long as scoring 300 small images on a CPU).
            padding = np.zeros((batch_size - scored, *images.shape[1:]), images.dtype)
            images = np.concatenate([images, padding])
        logits = net(ms.Tensor(images)).asnumpy()[:scored].astype(np.float32)
        finite = np.isfinite(logits).all(axis=1)
        counts[:len(TOP_K)] += count_correct(logits[finite], labels[finite])
        counts[-2:] += (scored, np.count_nonzero(~finite))
        if progress:
            progress.advance(scored)
    if group_size > 1:  # every rank raises alike, from the summed counts
        counts = _SumOverGroup()(ms.Tensor(counts)).asnumpy()
    top1, top5, images, non_finite = (int(count) for count in counts)
    if images == 0:
        raise ValueError('the validation set yielded no images')
    if non_finite:
        raise NonFiniteLogitsError(f'the network gave NaN or infinite logits for {non_finite} of {images} images, '
                                   f'which are not scored: its weights or inputs are damaged')
    return {'top1': top1 / images, 'top5': top5 / images, 'images': images}


class Validator:
    """Validation while training: `net` over `dataset` every `interval` epochs and after the last of `epochs`,
    keeping the best top-1 so far (`best_top1`: carried over by a resumed run)."""

    def __init__(self, net, dataset, *, group_size, interval, epochs, best_top1=0.0):
        self.net = net
        self.dataset = dataset
        self.group_size = group_size
        self.interval = interval
        self.epochs = epochs
        self.best_top1 = best_top1

    def validate(self, epoch):
        """evaluate's result with 'improved' (whether top-1 beat the best so far) when `epoch` is one to validate,
        else None. Every rank of a data-parallel group calls it; `net` goes back to training mode."""
        if epoch % self.interval and epoch != self.epochs:
            return None
        result = evaluate(self.net, self.dataset, self.group_size)
        self.net.set_train(True)
        result['improved'] = result['top1'] > self.best_top1
        self.best_top1 = max(self.best_top1, result['top1'])
        return result
