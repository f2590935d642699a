"""One training run of the demo set stopped three ways and resumed after each (conftest.interrupted_run): killed
(SIGKILL) half-way through writing a checkpoint, interrupted (Ctrl-C) during an epoch, killed at a random moment;
then run to its end. No checkpoint is ever lost or left half-written, Ctrl-C is one line, and the resumed schedule
goes on where it stopped. The tests that read this run are in this one
file, so that one test process makes it while the other goes on with other files."""
import signal
import subprocess

import pytest

from conftest import INTERRUPTED_ARCH, INTERRUPTED_EPOCHS, STEPS_PER_EPOCH, checkpoint, load, read_csv
from src.engine.lr_schedule import learning_rates
from test_faults import assert_fault, loads, no_partial_files

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_kill_9_during_a_save_and_at_a_random_moment_never_loses_a_checkpoint(interrupted_run):
    """SIGKILL half-way through writing a checkpoint, then at a random moment of a resumed run: every checkpoint left
    loads, the half-written file is a hidden temporary that the next run removes, and --resume from the newest
    finishes the run."""
    from src.utils.files import PARTIAL_PREFIX
    run = interrupted_run
    during_save = run.killed_while_saving
    assert during_save.status == -signal.SIGKILL, during_save.stderr[-3000:]
    half_written = [name for name, loads in during_save.checkpoints.items() if loads is None]
    assert half_written == [f'{PARTIAL_PREFIX}{checkpoint(run.output_dir, 2, INTERRUPTED_ARCH).name}']
    assert checkpoint(run.output_dir, 1, INTERRUPTED_ARCH).name in during_save.checkpoints
    assert run.killed_at_random.status == -signal.SIGKILL
    for stop in (during_save, run.ctrl_c, run.killed_at_random):
        assert all(stop.checkpoints[name] for name in stop.checkpoints if not name.startswith(PARTIAL_PREFIX))
    assert not [name for name in run.ctrl_c.checkpoints if name.startswith(PARTIAL_PREFIX)]  # removed on start
    assert run.final.returncode == 0, run.final.stderr[-3000:]
    assert loads(checkpoint(run.output_dir, INTERRUPTED_EPOCHS, INTERRUPTED_ARCH))
    assert no_partial_files(run.output_dir, run.output_dir / 'ckpt')


def test_ctrl_c_ends_training_in_one_line_with_the_checkpoint_to_resume_from(interrupted_run):
    ctrl_c = interrupted_run.ctrl_c
    result = subprocess.CompletedProcess('train.py', ctrl_c.status, '', ctrl_c.stderr)
    line = assert_fault(result, 'train.py: interrupted: the last good checkpoint is', status=130)
    assert f'(continue with --resume {ctrl_c.resumed_from})' in line and loads(ctrl_c.resumed_from)


def test_a_run_into_a_folder_another_run_holds_stops_at_once_naming_it(interrupted_run):
    line = assert_fault(interrupted_run.second_run, f'--output_dir {interrupted_run.output_dir} is in use by train.py '
                                                    f'(pid ')
    assert line.endswith('; wait for it to end, or choose another')


def test_a_new_run_into_a_finished_runs_folder_is_refused(interrupted_run):
    assert_fault(interrupted_run.new_run_after, f'--output_dir {interrupted_run.output_dir} holds the results of an '
                                                f'earlier run (')


def test_resume_after_a_kill_continues_the_schedule(interrupted_run):
    """The last resume of the interrupted run (killed during a save, interrupted, killed at random) goes on from
    its checkpoint's epoch, step and learning rate to the end of the schedule."""
    run = interrupted_run
    assert run.final.returncode == 0, run.final.stderr
    epoch = int(load(run.final_resumed_from)['epoch_num'].asnumpy())
    assert 1 <= epoch < INTERRUPTED_EPOCHS
    assert run.final_resumed_from == checkpoint(run.output_dir, epoch, INTERRUPTED_ARCH)
    assert int(load(run.final_resumed_from)['global_step'].asnumpy()[0]) == epoch * STEPS_PER_EPOCH
    schedule = learning_rates('cosine_annealing', lr_init=0.05, eta_min=0.0, steps_per_epoch=STEPS_PER_EPOCH,
                              epochs=INTERRUPTED_EPOCHS)
    assert (f'resuming after epoch {epoch} (step {epoch * STEPS_PER_EPOCH}, lr {schedule[epoch * STEPS_PER_EPOCH]:.6f})'
            in run.final.stdout)
    resumed = read_csv(run.output_dir / 'train_steps.csv')[len(run.steps_before_final):]
    assert resumed[0]['epoch'] == str(epoch + 1) and int(resumed[0]['global_step']) == epoch * STEPS_PER_EPOCH + 5
    for row in resumed:
        assert float(row['lr']) == pytest.approx(schedule[int(row['global_step']) - 1], rel=1e-5)
    final = load(checkpoint(run.output_dir, INTERRUPTED_EPOCHS, INTERRUPTED_ARCH))
    assert int(final['global_step'].asnumpy()[0]) == INTERRUPTED_EPOCHS * STEPS_PER_EPOCH
    assert int(final['epoch_num'].asnumpy()) == INTERRUPTED_EPOCHS
