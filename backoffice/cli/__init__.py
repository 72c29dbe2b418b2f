"""The `backoffice` command tree: every command's parser and dispatch, in one package.

`tree` is the entry point (the console script, `python -m backoffice.cli`); `operate` holds the
operator and approver commands, `schedules` the schedule and reconcile commands, `deploy`,
`bench` and `chaos` theirs. `dev` stays in `devstack.cli`, `api` in `starters.api.server`,
`replay-check` in `workers.replay_check`, `demo` in `backoffice.demo`: the tree dispatches to them.
"""

from backoffice.cli.tree import main

__all__ = ["main"]
