"""`whoknows doctor`: what is wrong with an installation, and exactly how to fix it.

One module per family of checks (configuration, identity, microsoft365, store, package,
endpoint); each returns plain :class:`~cli.doctor.result.Check` results. ``runner`` runs
them in order, sharing what an earlier family learnt (the Graph token's roles).
"""
