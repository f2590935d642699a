"""ResNet50-BAM eval: not built yet."""
import sys

from src.config import parse_config, run_main


def main():
    parse_config(__doc__)
    sys.exit('eval.py is not built yet; nothing was run')


if __name__ == '__main__':
    run_main(main)
