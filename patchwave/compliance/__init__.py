"""Compliance: the scan that reports it and the summary by severity and patch group."""
