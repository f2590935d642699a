"""Progress of long work over many items (images scored, predicted, drawn): a line every so often with the count,
the rate and the time left, so that an hour over ImageNet's 50,000 validation images is not an hour of silence."""
import sys
import time

INTERVAL_SECONDS = 10.0


def format_seconds(seconds):
    """H:MM:SS."""
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
    """Call `advance(n)` as items are done; every `interval` seconds (not before the first) a line
    '  <what>: 1,024 of 50,000 <unit>, 120.5 <unit>/s, ETA 0:06:49' goes to stderr, apart from the results
    on stdout. Work that ends within the interval prints nothing."""

    def __init__(self, total, what, unit='images', interval=INTERVAL_SECONDS, stream=None):
        self.total = total
        self.what = what
        self.unit = unit
        self.interval = interval
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = self.last_line = time.monotonic()

    def advance(self, count):
        self.done += count
        now = time.monotonic()
        if now - self.last_line < self.interval or self.done >= self.total:
            return
        self.last_line = now
        rate = self.done / (now - self.started)
        left = format_seconds((self.total - self.done) / rate) if rate > 0 else '?'
        print(f'  {self.what}: {self.done:,} of {self.total:,} {self.unit}, {rate:.1f} {self.unit}/s, ETA {left}',
              file=self.stream, flush=True)
