"""Compliance history: what Patch Manager forgets (it keeps only the latest scan).

Every scan, window, emergency and retry records, per instance, the patches it saw and the run's
outcomes, in a store behind a small port (``port.HistoryStore``). Only ``sqlstore`` (and the
Alembic migrations shipped beside it) imports SQLAlchemy; the rest is plain domain code.
"""
