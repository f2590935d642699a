"""How every command reports a problem the user can fix: one line naming it and what to do, exit status 2.

Domain modules (data, checkpoints, devices, inference) raise `UsageError`; each entry point runs its main()
through `run_main`, which turns that into the line, and Ctrl-C into one line and status 130 (src/utils/interrupts.py).
Nothing here imports MindSpore or the settings, so any module may use it.
"""
import argparse
import os
import sys

LISTED = 3
QUOTED_CHARACTERS = 60


class UsageError(Exception):
    """Bad input the user can fix (a setting, a path, a file): reported as one line naming the problem and
    what to do, with exit status 2. Every entry point raises it for such input; see `run_main`."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors on one line (the usage of forty options is no help) and exit status 2; every
    command line of the repository is parsed by one."""

    def error(self, message):
        sys.stderr.write(f'{self.prog}: error: {message} (see --help)\n')
        sys.exit(2)


def run_main(main):
    """Run an entry point's main(); a UsageError becomes one line on stderr and exit status 2, Ctrl-C at any moment
    one line and exit status 130 (128 + SIGINT, as a shell reports it; see src/utils/interrupts.py: only for the program's
    own main(), so that a test calling it leaves its process's signals as they were). The output folders and files
    main() held are released when it returns."""
    from src.utils.files import release_locks
    from src.utils.interrupts import answer_signals, stop_answering

    prog = os.path.basename(sys.argv[0])
    if main.__module__ == '__main__':  # a program of its own, not a call inside another one (a test)
        answer_signals(prog)
    try:
        result = main()
    except UsageError as error:
        stop_answering(2)
        sys.stderr.write(f'{prog}: error: {error}\n')
        sys.exit(2)
    finally:
        release_locks()
    stop_answering(0)  # the work is done: a signal from now on does not make it "interrupted"
    return result


def first_line(error):
    """What a one-line report quotes of an exception: the first line of its message (MindSpore's run to many),
    or the exception's type when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def some(names, limit=LISTED, separator=', '):
    """The first `limit` of `names` for a one-line message: 'a, b, c and 4 more'."""
    names = list(names)
    return separator.join(map(str, names[:limit])) + (f' and {len(names) - limit} more' if len(names) > limit else '')


def quoted(value):
    """repr(value) for a one-line message, cut to QUOTED_CHARACTERS: reprlib stops at a few items per level and a
    few levels, so a value of any size (a damaged row, a recipe's alias bomb) is never rendered whole."""
    import reprlib

    text = reprlib.repr(value)
    return text if len(text) <= QUOTED_CHARACTERS else f'{text[:QUOTED_CHARACTERS - 3]}...'
