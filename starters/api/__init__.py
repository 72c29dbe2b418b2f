"""The HTTP API: services start workflows, systems send webhooks, approvers decide."""
