"""Everything that acts as a Temporal client: the CLI, (later) the HTTP API and the schedules."""
