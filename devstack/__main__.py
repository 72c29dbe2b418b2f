"""`python -m devstack up|down|status` (the same as `backoffice dev ...`)."""

import sys

from devstack.cli import main

raise SystemExit(main(sys.argv[1:]))
