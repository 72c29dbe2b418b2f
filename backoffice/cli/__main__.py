"""`python -m backoffice.cli`: the `backoffice` console script without installing it."""

from backoffice.cli.tree import main

raise SystemExit(main())
