"""One module per revision of the app database's schema, oldest first (docs/deploying.md)."""
