"""One module per command verb: stream -> engine -> writers (called by cli.py)."""
