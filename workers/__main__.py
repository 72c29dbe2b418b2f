"""`python -m workers` runs the worker process."""

from workers.main import main

raise SystemExit(main())
