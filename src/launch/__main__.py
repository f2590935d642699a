"""python -m src.launch: see src/launch/command.py."""
import sys

from src.launch.command import main

sys.exit(main())
