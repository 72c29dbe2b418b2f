"""The `backoffice` command: routes each subcommand to the package that owns it."""
