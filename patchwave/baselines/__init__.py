"""Patch baselines: the catalog of patches, evaluation of approval rules, sync with an account."""
