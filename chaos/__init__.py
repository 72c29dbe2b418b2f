"""The fault suite (`backoffice chaos`): a mixed workload of every process under a fault plan,
then the invariants checked against the sandbox ledger, the audit rows and the workflow
histories, and a table of figures (`docs/reliability.md`)."""
