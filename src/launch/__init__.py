"""Data-parallel launches through msrun (the command line: src/launch/command.py, run as python -m src.launch):
the plan, the processes, their logs."""
