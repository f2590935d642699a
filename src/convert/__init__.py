"""The authors' PyTorch checkpoint: reading and checking it, and their model transcribed to PyTorch."""
