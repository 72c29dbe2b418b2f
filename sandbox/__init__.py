"""Stand-ins for the company's external systems (ERP, portal, mail, ...), served as one HTTP app.

Start it with ``python -m sandbox``; build it in-process with ``sandbox.app.create_app``.
"""
