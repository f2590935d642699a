"""msrun's logs read for people: a worker's output without MindSpore's own records for the console, and, when the
run fails, the error that caused it, found among the workers' and the scheduler's logs."""
import os
import re


# MindSpore's own log records ("[WARNING] DISTRIBUTED(123,7f...,python):..."): kept in the logs, not shown.
MINDSPORE_RECORD = re.compile(r'^\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] [A-Z_]+\(\d+[,:]')
# The error lines of a log: an entry point's own ("train.py: error: ..."), or the last line of a traceback.
ENTRY_POINT_ERROR = re.compile(r'^[\w.-]+\.py: ')
INTERRUPTED = re.compile(r'^[\w.-]+\.py: interrupted\b')  # a reaction to a signal, e.g. MindSpore's on a lost peer
TRACEBACK_END = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(: |$)')
# What msrun's scheduler logs when another program holds MASTER_PORT (taken after the launch checked it).
SCHEDULER_BIND_FAILED = re.compile(r'Failed to call bind, url: (?P<url>\S+) (?P<reason>.+)$')


class SchedulerWatch:
    """Reads msrun's scheduler log as it grows for the sign that the scheduler could not listen on MASTER_PORT,
    which the workers would otherwise only report as a group that did not form, after CLUSTER_TIMEOUT."""

    def __init__(self, path):
        self.path = path
        self.read = 0

    def cannot_listen(self, prog, port):
        """The error line if the scheduler failed to bind its port, else None."""
        if not os.path.exists(self.path):
            return None
        with open(self.path, 'rb') as handle:
            handle.seek(self.read)
            data = handle.read()
        complete = data.rfind(b'\n') + 1  # a line still being written is read next time
        self.read += complete
        for line in data[:complete].decode('utf-8', errors='replace').splitlines():
            failed = SCHEDULER_BIND_FAILED.search(line)
            if failed:
                return (f'{prog}: error: msrun\'s scheduler cannot listen on {failed["url"]} ({failed["reason"]}): '
                        f'another program took MASTER_PORT {port} after the launch checked it; start again, or set '
                        f'MASTER_PORT to a free port, the same on every machine')
        return None


class LogFollower:
    """Shows the lines a log file gains, without MindSpore's log records; an error the worker reports (its
    entry point's error line, a traceback and what follows it) is left to the failure report."""

    def __init__(self, path):
        self.path = path
        self.handle = None
        self.partial = ''
        self.in_error = False

    def show_new_lines(self):
        if self.handle is None:
            if not os.path.exists(self.path):
                return
            self.handle = open(self.path, encoding='utf-8', errors='replace')  # pylint: disable=consider-using-with
        text = self.partial + self.handle.read()
        *lines, self.partial = text.split('\n')
        for line in lines:
            self.in_error = self.in_error or line.startswith('Traceback (most recent call last)')
            if not (self.in_error or MINDSPORE_RECORD.match(line) or ENTRY_POINT_ERROR.match(line)):
                print(line, flush=True)

    def close(self):
        if self.handle:
            self.handle.close()


def _read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8', errors='replace') as handle:
        return [line for line in handle.read().splitlines() if not MINDSPORE_RECORD.match(line)]


def _traceback_error(lines, index):
    """The exception line at `index`; MindSpore puts its message on the lines after an empty one, between rules."""
    if lines[index].rstrip().endswith(':'):
        for line in lines[index + 1:]:
            if line.strip() and not line.startswith('-'):
                return f'{lines[index].strip()} {line.strip()}'
    return lines[index]


def first_error(worker_logs, scheduler_log):
    """(line, path) of the error that most likely caused a failure: an entry point's own error line in a worker's
    log, else the scheduler's (it names the worker that stopped answering), else the end of a worker's traceback,
    else a worker's report that a signal interrupted it (both often consequences of another's failure); None if
    there is none."""
    logs = {path: _read_lines(path) for path in [*worker_logs, scheduler_log]}
    for paths, matches in ((worker_logs, lambda line: ENTRY_POINT_ERROR.match(line) and not INTERRUPTED.match(line)),
                           ([scheduler_log], ENTRY_POINT_ERROR.match), (worker_logs, TRACEBACK_END.match),
                           (worker_logs, INTERRUPTED.match)):
        for path in paths:
            for index, line in enumerate(logs[path]):
                if matches(line):
                    return _traceback_error(logs[path], index), path
    return None


def failure_report(prog, launch, *, log_dir, msrun_log, status):
    """The lines that explain a failed run: the error first, then where to look."""
    workers = [os.path.join(log_dir, f'worker_{rank}.log')
               for rank in range(launch.first_rank, launch.first_rank + launch.workers)]
    found = first_error(workers, os.path.join(log_dir, 'scheduler.log'))
    if found:
        return [found[0], f'[train] the run failed (from {found[1]}); logs of this machine in {log_dir}']
    with open(msrun_log, encoding='utf-8', errors='replace') as handle:
        msrun_output = handle.read()
    code = re.search(r'Worker process \d+ exit with exception\. Error code: (-?\d+)', msrun_output)
    if code:
        cause = int(code.group(1))
        how = f'was killed by signal {-cause}' if cause < 0 else f'ended with exit status {cause}'
        return [f'{prog}: error: a worker of this machine {how} without an error message (out of memory?)',
                f'[train] logs of this machine in {log_dir}']
    return [f'{prog}: error: msrun ended with status {status}; the end of {msrun_log}:',
            *msrun_output.strip().splitlines()[-10:]]
