"""Side effects: one module per external system, plus shared HTTP, secrets and audit plumbing."""
