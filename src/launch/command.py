"""This machine's part of a data-parallel training run, started through msrun (MindSpore's launcher): the
launch settings and train.py's own input checks first, then msrun, this machine's first worker's output on
the console, and, when the run fails, the error that caused it as the first line of the report.

  python -m src.launch --prog NAME --device_target TARGET (--workers N | --rank_table FILE) -- TRAIN.PY OPTIONS

scripts/run_distribute_train*.sh run it. Where this machine stands in the run comes from the environment,
under torchrun's names:
  NNODES           machines in the run: 1 by default (with a rank table: its server count)
  NODE_RANK        this machine's index, 0 .. NNODES-1: 0 by default (with a rank table: the server whose
                   server_id is an address of this machine)
  MASTER_ADDR      machine 0's address, where msrun runs its scheduler: 127.0.0.1 on one machine; needed for
                   several (with a rank table: the first server's server_id)
  MASTER_PORT      the scheduler's port: 8118 (msrun's own default) across machines; on one machine a free one
                   below the kernel's ephemeral ports, which an outgoing connection could take first
  CLUSTER_TIMEOUT  seconds within which the workers of every machine must have joined: 120 across machines
                   (MindSpore's workers can take 25 s and more to register with the scheduler even on an
                   idle network; raise it when the machines start further apart), msrun's 600 on one machine,
                   where msrun itself sees a worker fail
Every machine runs the same command and settings except NODE_RANK. --workers (the scripts' WORKER_NUM or
DEVICE_NUM) is the number of workers on this machine, the same on every machine; ranks
NODE_RANK * workers .. (NODE_RANK + 1) * workers - 1 run here, as msrun numbers them. A rank table gives each
server its devices and their ranks; msrun numbers a server's devices in table order, so the table's ranks
must follow that order, and its device ids reach the workers through ASCEND_RT_VISIBLE_DEVICES.

Everything is checked before any process starts, each problem reported in one line with exit status 2: the
settings, train.py's own checks, and whether the machine holds the workers (check_machine_holds). On machine 0
this process then holds OUTPUT_DIR for the run (train.py's rule: another run into it stops at once). Logs:
OUTPUT_DIR/logs/worker_<rank>.log for each worker, scheduler.log on machine 0, msrun_node<k>.log for msrun
itself. A failing worker stops this machine's others at once (msrun) and the other machines' within about
30 s (MindSpore's heartbeat); a machine that does not join stops the others after CLUSTER_TIMEOUT. However
this process ends, even by SIGKILL, msrun and every process it started end with it: each asks the kernel to
kill it when its parent ends, first thing (src.utils.device.exit_with_parent).
"""
import argparse
import ast
import os
import sys

from src.config import parse_config
from src.engine.training_inputs import check_inputs, claim_output
from src.launch.plan import available_memory_mib, check_machine_holds, plan_launch
from src.launch.processes import REPO, run
from src.utils.errors import OneLineParser, UsageError


def train_description():
    """train.py's docstring, for the --help of its options given to a launch: read from the file, as the library
    does not import a command."""
    with open(os.path.join(REPO, 'train.py'), encoding='utf-8') as handle:
        return ast.get_docstring(ast.parse(handle.read()), clean=False)


def check_training_inputs(train_options, launch):
    """train.py's settings and its own checks of the folders and files they name, as train.py runs them; on machine
    0, where rank 0 writes the results, the output folder is then held for the run by this process."""
    cfg = parse_config(train_description(), train_options, command='train', prog='train.py')
    check_inputs(cfg)
    if launch.node_rank == 0:
        claim_output(cfg)
    return cfg


def parse_arguments(argv):
    # Its own options (the worker count), then train.py's, which are checked through the shared settings.
    parser = OneLineParser(prog='src.launch', description=__doc__.split('\n')[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prog', default='src.launch', help='the name errors are reported under')
    parser.add_argument('--device_target', required=True, choices=('Ascend', 'GPU', 'CPU'))
    count = parser.add_mutually_exclusive_group(required=True)
    count.add_argument('--workers', type=int, help='workers on this machine')
    count.add_argument('--rank_table', help='HCCL rank table (Ascend)')
    parser.add_argument('train_options', nargs=argparse.REMAINDER, help='-- then train.py options')
    args = parser.parse_args(argv)
    if args.train_options[:1] == ['--']:
        args.train_options = args.train_options[1:]
    return args


def main(argv=None):
    args = parse_arguments(argv)
    train_options = [*args.train_options, '--run_distribute', 'true', '--device_target', args.device_target]
    try:
        launch = plan_launch(os.environ, args.workers, args.rank_table)
        check_machine_holds(launch.workers, len(os.sched_getaffinity(0)), available_memory_mib(),
                            scheduler=launch.node_rank == 0)
    except UsageError as error:
        sys.stderr.write(f'{args.prog}: error: {error}\n')
        return 2
    try:
        cfg = check_training_inputs(train_options, launch)
    except UsageError as error:
        sys.stderr.write(f'train.py: error: {error}\n')
        return 2
    output_dir = os.path.abspath(cfg.output_dir)
    return run(args.prog, launch, train_options=[*train_options, '--output_dir', output_dir], output_dir=output_dir,
               rank_table=args.rank_table)
