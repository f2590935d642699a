"""How every command ends on Ctrl-C (SIGINT), SIGTERM or SIGHUP, whatever it is doing: one line on stderr and exit
status 128 + the signal (130 for Ctrl-C), nothing written outside its output.

Python's own answer, a KeyboardInterrupt raised in the main thread between two bytecodes, fails inside MindSpore:
during `import mindspore` it aborts the process ("Fatal Python error", status 134); during a graph compilation
MindSpore writes rank_0/om/analyze_fail.ir into the working folder; during training and scoring MindSpore's
runtime swallows the signal or ends the process with SIGTERM without a word. So a thread of this module answers
the signals, whatever the main thread is running: the signals are blocked in the main thread before any other
thread starts (each command calls answer_signals_if_main before its other imports; threads started later inherit
the block) and the thread takes them with sigwait. Should another thread take one all the same (one started
earlier, or one that unblocks signals), it reaches Python's handler, which here raises nothing and wakes the
thread through signal.set_wakeup_fd; and as MindSpore installs its own SIGINT handler (which ends the process with
SIGTERM) each time it runs a graph, a third thread puts Python's back within HANDLER_CHECK_SECONDS. What the command was writing is left as src/utils/files.py's atomic writes leave it: the previous
file or a complete new one; the temporary file of a write under way is removed.
"""
import ctypes
import os
import signal
import sys
import threading
import time

from src.utils.files import release_locks, remove_writes_under_way

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_kept = []  # at most one function saying what the interrupted command kept, e.g. its last checkpoint
_finished = []  # the exit status of a command that has finished its work
_answering = threading.Lock()
HANDLER_CHECK_SECONDS = 0.05
SIGACTION_BYTES = 256  # more than any libc's struct sigaction: it is copied whole, never read field by field


def answer_signals_if_main(module_name):
    """answer_signals for a command run as a program (`module_name`, its __name__, is '__main__'). Its file calls
    this before any other import: a thread started before the signals are blocked keeps taking them and runs the
    handler installed at that moment, MindSpore's included, and importing numpy starts OpenBLAS's threads."""
    if module_name == '__main__':
        answer_signals(os.path.basename(sys.argv[0]))


def answer_signals(prog):
    """From now on, answer SIGNALS with one line '<prog>: interrupted[ by SIGTERM][: <what was kept>]' and exit
    status 128 + signal. Call from the main thread. Child processes started later inherit the block: they end when
    their stdin closes, or are ended by the command."""
    if any(thread.name == 'signals' for thread in threading.enumerate()):
        return
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    for signum in SIGNALS:
        signal.signal(signum, lambda *_: None)  # the answer comes from the thread, not from a KeyboardInterrupt
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    threading.Thread(target=_keep_handlers, name='signals-handlers', daemon=True).start()
    threading.Thread(target=lambda: _answer(prog, signal.sigwait(SIGNALS)), name='signals', daemon=True).start()
    threading.Thread(target=lambda: _answer(prog, os.read(wake_read, 1)[0]), name='signals-woken',
                     daemon=True).start()


def _keep_handlers():
    """Put Python's handler of each of SIGNALS back whenever another (MindSpore's) replaced it."""
    try:
        sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        return
    ours = {signum: ctypes.create_string_buffer(SIGACTION_BYTES) for signum in SIGNALS}
    for signum, action in ours.items():
        sigaction(signum, None, action)
    now = ctypes.create_string_buffer(SIGACTION_BYTES)
    while True:
        for signum, action in ours.items():
            sigaction(signum, None, now)
            if now.raw != action.raw:
                sigaction(signum, action, None)
        time.sleep(HANDLER_CHECK_SECONDS)


def stop_answering(status):
    """The command has finished, with exit `status` (its results and its last line written): a signal from now on
    ends the process at once with that status and no line, since nothing was interrupted (a Ctrl-C while MindSpore
    tears down still ends it)."""
    _finished[:] = [status]


def report_kept(what_was_kept):
    """Have the interruption line say what the command kept: `what_was_kept()` returns a phrase."""
    _kept[:] = [what_was_kept]


def _answer(prog, signum):
    _answering.acquire()  # pylint: disable=consider-using-with  # the first signal answers; the process then ends
    if _finished:
        os._exit(_finished[0])  # pylint: disable=protected-access
    remove_writes_under_way()
    release_locks()
    how = '' if signum == signal.SIGINT else f' by {signal.Signals(signum).name}'
    try:
        kept = f': {_kept[0]()}' if _kept else ''
    except Exception as error:  # pylint: disable=broad-except  # the line must still be written
        kept = f' ({type(error).__name__} while listing what was kept)'
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os.write(sys.stderr.fileno(), f'{prog}: interrupted{how}{kept}\n'.encode())
    # At once: a normal exit would wait for MindSpore's threads, and for a data-parallel group to be left through
    # a scheduler that may be gone.
    os._exit(128 + signum)  # pylint: disable=protected-access
