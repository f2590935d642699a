"""Checkpoint files: written atomically, read with errors that say what is wrong, listed in epoch order."""
import os
import re

from src.config import UsageError

CHECKPOINT_SUFFIX = '.ckpt'


def _natural_key(text):
    """'net-10_5.ckpt' sorts after 'net-9_5.ckpt': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def checkpoint_files(path):
    """A checkpoint file as a one-element list, or a folder's checkpoints in epoch order."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UsageError(f'checkpoint path {path} does not exist')
    names = sorted((name for name in os.listdir(path)
                    if name.endswith(CHECKPOINT_SUFFIX) and not name.startswith('.')), key=_natural_key)
    if not names:
        raise UsageError(f'no {CHECKPOINT_SUFFIX} files in {path}')
    return [os.path.join(path, name) for name in names]


def read_checkpoint(path):
    """{name: Parameter} of a checkpoint file, or a UsageError naming the file and the problem."""
    import mindspore as ms

    if not os.path.isfile(path):
        raise UsageError(f'checkpoint {path} does not exist')
    try:
        return ms.load_checkpoint(path)
    except (ValueError, RuntimeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f'cannot read checkpoint {path}: truncated or not a MindSpore checkpoint ({reason})') from error


def load_weights(net, path):
    """Load a checkpoint's weights into `net`; every network parameter must be present with its shape.
    Returns the whole checkpoint, whose extra entries (optimizer state, epoch, ...) the caller may use."""
    import mindspore as ms

    saved = read_checkpoint(path)
    expected = {param.name: param for param in net.get_parameters()}
    missing = [name for name in expected if name not in saved]
    mismatched = [f'{name} {tuple(saved[name].shape)} != {tuple(param.shape)}'
                  for name, param in expected.items() if name in saved and saved[name].shape != param.shape]
    if missing or mismatched:
        problems = [f'{len(missing)} missing ({", ".join(missing[:3])}{", ..." if len(missing) > 3 else ""})'] \
            if missing else []
        if mismatched:
            problems.append(f'{len(mismatched)} of another shape ({"; ".join(mismatched[:3])}'
                            f'{"; ..." if len(mismatched) > 3 else ""})')
        raise UsageError(f'checkpoint {path} does not fit the network: parameters {" and ".join(problems)}; '
                         f'check --num_classes and --base_width')
    ms.load_param_into_net(net, {name: saved[name] for name in expected}, strict_load=True)
    return saved


def save_atomically(save_obj, path, append_dict=None):
    """Save like `mindspore.save_checkpoint`, but through a temporary file renamed into place, so a run
    killed while saving leaves the previous file intact."""
    import mindspore as ms

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Hidden, and ending in .ckpt because save_checkpoint appends that suffix otherwise.
    partial = os.path.join(directory, f'.partial-{os.path.basename(path)}')
    ms.save_checkpoint(save_obj, partial, append_dict=append_dict)
    os.replace(partial, path)
    return path
