"""Alembic migrations of the history store, shipped as package data and run on open."""
