"""MindSpore's own log, kept off the screen where the repository reports the outcome itself: a failed save, export or
load becomes one line naming the file and MindSpore's reason, not that line plus MindSpore's."""
import contextlib
import logging
import os
import sys
import tempfile


class _Keep(logging.Handler):
    def __init__(self, records, level):
        super().__init__(level)
        self.records = records

    def emit(self, record):
        self.records.append(record.getMessage())


@contextlib.contextmanager
def mindspore_log_kept(level=logging.WARNING):
    """While the block runs, MindSpore's log records of `level` and above go into the yielded list, not to stderr."""
    import mindspore as ms

    logger = ms.log._get_logger()  # pylint: disable=protected-access
    records, handlers = [], logger.handlers[:]
    logger.handlers = [_Keep(records, level)]
    try:
        yield records
    finally:
        logger.handlers = handlers


@contextlib.contextmanager
def native_stderr_kept():
    """While the block runs, what MindSpore's C++ code writes to stderr (its [ERROR] lines, which its Python log
    does not see) goes into the yielded list instead."""
    lines = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode(errors='replace').splitlines())
