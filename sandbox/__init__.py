"""Stand-ins for the external systems (CRM, billing, ERP, e-signature...), as one HTTP app.

Start it with ``python -m sandbox``; build it in-process with ``sandbox.app.create_app``.
"""
