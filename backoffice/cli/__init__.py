"""The `backoffice` command tree: every command's parser and dispatch, in one package.

`tree` is the entry point (the console script, `python -m backoffice.cli`) and lists every
command; `parsing` holds the exit codes and the one-line usage errors; `operate` the operator
and approver commands, `schedules` the schedule and reconcile commands, `deploy`, `bench` and
`chaos` theirs. `dev` stays in `devstack.cli`, `api` in `starters.api.server`, `replay-check` in
`workers.replay_check`, `demo` in `backoffice.demo`: the tree dispatches to them.
"""


def main(argv: list[str] | None = None) -> int:
    """The console script `backoffice` (see `backoffice.cli.tree`)."""
    from backoffice.cli.tree import main as tree_main

    return tree_main(argv)


__all__ = ["main"]
