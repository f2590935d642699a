"""Files a command reads from or writes for the user: output folders checked before any work, and writes that
leave a file complete or as it was (never half-written), with failures reported as one-line UsageErrors."""
import contextlib
import json
import os
import tempfile

from src.errors import UsageError

# Temporary files beside their target: hidden, so that listings (of checkpoints, exports) never show them.
PARTIAL_PREFIX = '.partial-'


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
    try:
        os.makedirs(os.path.dirname(partial), exist_ok=True)
        yield partial
        os.replace(partial, path)
    except OSError as error:
        raise UsageError(f'cannot write {what}{path}: {error.strerror or error}; nothing was written') from error
    finally:
        for leftover in (partial, *leftovers):
            if os.path.exists(leftover):
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
