"""Run train.py as `python train.py ARGS` would, but have the kernel kill it (SIGKILL) in the middle of saving the
checkpoint whose file name contains NAME_PART: once half of the file's bytes are on disk, as a kill -9 or the OOM
killer leaves them. The kill lands inside that save every time, which a kill sent from outside cannot promise.

    python tests/killed_while_saving.py NAME_PART train.py ARGS...
"""
import os
import runpy
import signal
import sys


def die_while_saving(name_part):
    import mindspore as ms

    real_save = ms.save_checkpoint

    def save_and_die_half_way(save_obj, ckpt_file_name, *args, **kwargs):
        real_save(save_obj, ckpt_file_name, *args, **kwargs)
        if name_part in os.path.basename(ckpt_file_name):
            with open(ckpt_file_name, 'r+b') as handle:
                handle.truncate(os.path.getsize(ckpt_file_name) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    ms.save_checkpoint = save_and_die_half_way


if __name__ == '__main__':
    name_part, script, *arguments = sys.argv[1:]
    die_while_saving(name_part)
    sys.argv = [script, *arguments]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name='__main__')
