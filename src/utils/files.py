"""Files a command reads from or writes for the user: output folders checked before any work and held by one run
at a time, outputs that never replace an input or another run's results unasked, and writes that leave a file
complete or as it was (never half-written), with failures reported as one-line UsageErrors."""
import atexit
import contextlib
import datetime
import fcntl
import glob
import json
import os
import sys
import tempfile

from src.utils.errors import UsageError, some

# Temporary files beside their target: hidden, so that listings (of checkpoints, exports) never show them.
PARTIAL_PREFIX = '.partial-'
LOCK_SUFFIX = '.lock'
_writes_under_way = set()  # temporary files of written_atomically blocks now running
_locks_held = []  # (path, open file) of the locks held: the kernel releases each when this process ends


def check_output_dir(directory, what):
    """UsageError naming `what` (e.g. '--output_dir') and the problem unless files can be written in `directory`,
    checked before any work that would be lost: a file where the folder (or one above it) should be, a read-only or
    forbidden folder. Nothing is created: a folder that does not exist yet is checked at its nearest parent."""
    path = os.path.abspath(directory)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = '' if existing == path else f' ({existing} is a file)'
        raise UsageError(f'{what} {directory} is {"below " if where else ""}a file, not a folder{where}; choose '
                         f'another path')
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix='.write-check-'):
            pass
    except OSError as error:
        raise UsageError(f'cannot write into {what} {directory}: {error.strerror or error}; choose a folder you can '
                         f'write to') from error
    return directory


def hold(lock_path, what, holder=None):
    """Lock `lock_path` (created with its folder) until this process ends, or raise a UsageError saying that `what`
    (e.g. '--output_dir out') is in use and by whom. The lock is the kernel's (flock), released when the process
    ends even by SIGKILL: nothing is left stuck. `holder` (default: this command and its pid) is written into the
    lock file for the message another process gets; the file is removed when this process ends (see
    release_locks)."""
    os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
    while True:
        handle = open(lock_path, 'a+', encoding='utf-8')  # pylint: disable=consider-using-with
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or 'another process'
            handle.close()
            raise UsageError(f'{what} is in use by {other}; wait for it to end, or choose another') from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()  # its holder removed the file between our open and our lock: lock the one there now
    holder = holder or (f'{os.path.basename(sys.argv[0])} (pid {os.getpid()}, started '
                        f'{datetime.datetime.now():%Y-%m-%d %H:%M:%S})')
    handle.seek(0)
    handle.truncate()
    handle.write(holder + '\n')
    handle.flush()
    if not _locks_held:
        atexit.register(release_locks)
    _locks_held.append((lock_path, handle))


def release_locks():
    """Remove the lock files this process holds, then release them (at exit, and by src/utils/interrupts.py)."""
    while _locks_held:
        lock_path, handle = _locks_held.pop()
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        handle.close()


def hold_output_file(path, what, overwrite):
    """Hold the file a command is about to write (an export, a converted checkpoint) against another process
    writing it, and refuse to replace an existing one unless `overwrite`. The temporary files that writers killed
    with SIGKILL left in its folder (which had no chance to remove them) are removed."""
    hold(_lock_path(path), f'{what} {path}')
    _remove_temporaries_of_killed_writers(os.path.dirname(os.path.abspath(path)))
    if os.path.exists(path) and not overwrite:
        raise UsageError(f'{what} {path} exists (an earlier result); pass --overwrite true to replace it, or choose '
                         f'another name')
    for leftover in _temporaries_of(path):
        if os.path.exists(leftover):
            os.remove(leftover)


def _lock_path(path):
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f'.{base}{LOCK_SUFFIX}')


def _temporaries_of(path):
    """What a write of `path` leaves if killed: its partial file and, for a checkpoint, the temporary file
    MindSpore's save_checkpoint writes before renaming it to the partial one."""
    partial = partial_path(path)
    return partial, os.path.splitext(partial)[0] + '.tmp'


def _remove_temporaries_of_killed_writers(directory):
    """Remove the temporary files of hold_output_file writers that died without a word: their lock file is still
    there (its removal at exit never ran) but no process holds it."""
    for name in os.listdir(directory):
        if not (name.startswith('.') and name.endswith(LOCK_SUFFIX)):
            continue
        lock_path = os.path.join(directory, name)
        leftovers = [path for path in _temporaries_of(os.path.join(directory, name[1:-len(LOCK_SUFFIX)]))
                     if os.path.exists(path)]
        if not leftovers:
            continue
        try:
            handle = open(lock_path, encoding='utf-8')  # pylint: disable=consider-using-with
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is at work
            for path in (*leftovers, lock_path):
                with contextlib.suppress(OSError):
                    os.remove(path)


def earlier_results(directory, patterns):
    """The files in `directory` matching any of `patterns` (globs relative to it), sorted."""
    return sorted({found for pattern in patterns for found in glob.glob(os.path.join(glob.escape(directory), pattern))})


def claim_output_dir(directory, command, *, results, continuing=False, overwrite=False, held_by_launch=False,
                     continue_hint=''):
    """Make `directory` this run's: a lock that a second `command` run into it meets at once (unless the launch
    that started this process holds it for the run: `held_by_launch`), and a refusal when it holds an earlier
    run's `results` (globs), unless this run continues that one (`continuing`, e.g. a resume from a checkpoint in
    it; `continue_hint` says how) or `overwrite`, which removes them first. Returns the results removed."""
    if not held_by_launch:
        hold(os.path.join(directory, f'.{command}{LOCK_SUFFIX}'), f'--output_dir {directory}')
    found = earlier_results(directory, results)
    if not found or continuing:
        return []
    if not overwrite:
        names = [os.path.relpath(path, directory) for path in found]
        raise UsageError(f'--output_dir {directory} holds the results of an earlier run ({some(names)}); choose '
                         f'another folder{continue_hint} or pass --overwrite true to replace them')
    for path in found:
        os.remove(path)
    return found


def check_not_an_input(output, inputs, what):
    """UsageError if the file `output` would be written over one of `inputs` ({option: path}): no command writes
    over what it reads."""
    for option, path in inputs.items():
        if path and _same_file(path, output):
            raise UsageError(f'{what} {output} is {option} {path}, which this command reads: name another output file')


def _same_file(first, second):
    if os.path.abspath(first) == os.path.abspath(second):
        return True
    return os.path.exists(first) and os.path.exists(second) and os.path.samefile(first, second)


def is_inside(path, folder):
    """Whether `path` is `folder` or lies below it (both resolved, symbolic links followed)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_name_fits(path, what):
    """UsageError unless the temporary file written_atomically writes for `path` (its name behind PARTIAL_PREFIX)
    fits the file system's limit on a name (255 bytes on most), checked before the work that would write it."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    limit = os.pathconf(folder, 'PC_NAME_MAX') - len(PARTIAL_PREFIX)
    length = len(os.path.basename(path).encode())
    if length > limit:
        raise UsageError(f'{what}: the file name {os.path.basename(path)[:40]}... is {length} bytes, over the '
                         f'{limit} this folder takes (the file system\'s limit less the temporary name\'s prefix); '
                         f'choose a shorter name')


def partial_path(path):
    """The hidden temporary name beside `path` (same extension) that `written_atomically` writes first."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, PARTIAL_PREFIX + base)


@contextlib.contextmanager
def written_atomically(path, what='', leftovers=()):
    """Yield a temporary path beside `path` to write to; when the block ends without error it is renamed to `path`,
    so `path` is complete or left as it was, never half-written. The folder is created. Whatever happens, the
    temporary file and `leftovers` (temporary files of the writer itself) are removed; an OSError becomes a
    UsageError naming `what` (e.g. 'checkpoint ') and `path`."""
    partial = partial_path(path)
    under_way = {partial, *leftovers}
    _writes_under_way.update(under_way)
    try:
        os.makedirs(os.path.dirname(partial), exist_ok=True)
        yield partial
        os.replace(partial, path)
    except OSError as error:
        raise UsageError(f'cannot write {what}{path}: {error.strerror or error}; nothing was written') from error
    finally:
        _writes_under_way.difference_update(under_way)
        for leftover in under_way:
            if os.path.exists(leftover):
                os.remove(leftover)


def remove_writes_under_way():
    """Remove the temporary files of the writes now running (for a process about to end in the middle of them)."""
    for leftover in list(_writes_under_way):
        with contextlib.suppress(OSError):
            os.remove(leftover)


def remove_partial_files(directory):
    """Remove what writes killed half-way left in `directory` (the files they replace were never touched)."""
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            if name.startswith(PARTIAL_PREFIX):
                os.remove(os.path.join(directory, name))


def write_text_atomically(path, text):
    """Write `text` to `path` (see written_atomically); returns `path`."""
    with written_atomically(path) as partial:
        with open(partial, 'w', encoding='utf-8') as handle:
            handle.write(text)
    return path


def write_json(path, content, sort_keys=False):
    """Write `content` as indented JSON to `path` (atomically, see written_atomically); returns `path`."""
    return write_text_atomically(path, json.dumps(content, indent=2, sort_keys=sort_keys) + '\n')


def read_json(path, what, missing_hint=''):
    """The content of a JSON file the user named; UsageError if it is missing or not JSON. `what` names the file
    in messages (e.g. '--class_names FILE'); `missing_hint` says how to make it."""
    if not os.path.isfile(path):
        raise UsageError(f'{what} {path} does not exist{missing_hint}')
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f'{what} {path} is not JSON ({error})') from error
