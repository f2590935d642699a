"""benchmarks/allreduce.py under msrun: two workers, set up as train.py's are (each its own share of the CPUs,
all-reduce fusion on), sum a vector and rank 0 reports the time."""
import os
import re
import sys

import pytest

from conftest import REPO, run_script
from src.utils.device import worker_cpus

pytestmark = pytest.mark.slow


def test_two_workers_report_the_all_reduce_time(tmp_path):
    logs = tmp_path / 'logs'
    result = run_script('-c', 'import sys; from mindspore.parallel.cluster.run import main; sys.exit(main())',
                        '--worker_num=2', '--local_worker_num=2', f'--master_port={21000 + os.getpid() % 20000}',
                        f'--log_dir={logs}', '--join=True', os.path.join(REPO, 'benchmarks', 'allreduce.py'),
                        '--elements', '1000', '--runs', '3', timeout=300,
                        env={'PATH': f'{os.path.dirname(sys.executable)}:{os.environ["PATH"]}',
                             'LOCAL_WORKER_NUM': '2'})  # what src/launch/ tells the workers of a machine
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = (logs / 'worker_0.log').read_text()
    assert re.search(r'all-reduce of 1,000 float32 \(0 MB\) over 2 workers: median [\d.]+ s \(min [\d.]+, max '
                     r'[\d.]+, 3 runs\)', report), report[-2000:]
    assert 'all-reduce of' not in (logs / 'worker_1.log').read_text()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and len(cpus) == os.cpu_count():  # workers are bound only on a machine of their own
        for rank in (0, 1):
            assert (f'rank {rank} of 2: CPUs {worker_cpus(cpus, rank, 2)}, gradient all-reduce fusion on' in
                    (logs / f'worker_{rank}.log').read_text())
