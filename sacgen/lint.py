"""`python -m sacgen.lint PATH...`, the earlier spelling of `sacgen lint PATH...`."""

import sys

from .cli.sacgen import main

if __name__ == "__main__":
    sys.exit(main(["lint", *sys.argv[1:]]))
