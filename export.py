"""ResNet50-BAM export: not built yet."""
import sys

from src.config import parse_config, run_main


def main():
    parse_config(__doc__)
    sys.exit('export.py is not built yet; nothing was run')


if __name__ == '__main__':
    run_main(main)
