"""`python -m starters.api [--host H] [--port P]`: serve the HTTP API (the dev stack runs this)."""

from starters.api.server import main

raise SystemExit(main())
