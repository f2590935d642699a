"""Run train.py as `python train.py ARGS` would, but have a signal reach it at a moment a signal sent from outside
cannot promise to hit:

    python tests/signalled_while.py SIGNAL saving:NAME_PART train.py ARGS...
        once half of the bytes of the checkpoint whose file name contains NAME_PART are on disk, as a kill -9, the
        OOM killer or a Ctrl-C in the middle of a save leaves them;
    python tests/signalled_while.py SIGNAL validating train.py ARGS...
        once the first batch of the first validation is scored.

SIGNAL is a name (SIGKILL, SIGINT). After sending it the main thread waits, as one busy in MindSpore would: what
the process does next is the signal's answer alone.
"""
import os
import runpy
import signal
import sys
import time

ANSWER_SECONDS = 60  # far longer than any answer takes: a process still alive then has not answered


def signal_self(signum):
    os.kill(os.getpid(), signum)
    time.sleep(ANSWER_SECONDS)
    sys.exit(f'signalled_while.py: {signal.Signals(signum).name} sent {ANSWER_SECONDS} s ago was not answered')


def while_saving(signum, name_part):
    import mindspore as ms

    real_save = ms.save_checkpoint

    def save_and_stop_half_way(save_obj, ckpt_file_name, *args, **kwargs):
        real_save(save_obj, ckpt_file_name, *args, **kwargs)
        if name_part in os.path.basename(ckpt_file_name):
            with open(ckpt_file_name, 'r+b') as handle:
                handle.truncate(os.path.getsize(ckpt_file_name) // 2)
            signal_self(signum)

    ms.save_checkpoint = save_and_stop_half_way


def while_validating(signum):
    import src.engine.validation

    real_evaluate = src.engine.validation.evaluate

    class SignalAfterFirstBatch:
        def advance(self, _images):
            signal_self(signum)

    def evaluate_and_stop(net, dataset, group_size=1, progress=None):
        return real_evaluate(net, dataset, group_size, progress or SignalAfterFirstBatch())

    src.engine.validation.evaluate = evaluate_and_stop


if __name__ == '__main__':
    signal_name, moment, script, *arguments = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    sys.argv = [script, *arguments]
    from src.utils.interrupts import answer_signals_if_main
    answer_signals_if_main(__name__)  # what the script does first, before the imports below start threads
    if moment.startswith('saving:'):
        while_saving(signal.Signals[signal_name], moment.partition(':')[2])
    elif moment == 'validating':
        while_validating(signal.Signals[signal_name])
    else:
        sys.exit(f'signalled_while.py: unknown moment {moment!r}: saving:NAME_PART or validating')
    runpy.run_path(script, run_name='__main__')
