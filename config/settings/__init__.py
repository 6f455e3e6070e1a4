"""Settings modules: ``base`` (shared, every knob declared once), ``dev`` (demo, tests, local work)
and ``prod`` (public deployments; ``manage.py check --deploy`` passes)."""
