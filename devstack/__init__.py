"""Starts and stops the real local stack on loopback: Temporal, OpenBao, sandbox, worker.

Used by `backoffice dev ...` and by the test suite; see `devstack.stack.Stack`.
"""
