"""The training run: the step, the epoch end, validation, checkpoints, the schedule, metrics files and plots."""
