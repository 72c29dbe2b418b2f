"""The worker process: which workflows and activities run on which task queues, and how it stops."""
