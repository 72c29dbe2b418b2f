"""Webhooks from the external systems: signature check, routing to workflows, the inbox table."""
