"""Durable state: the run ledger and the leases that keep two runs off one instance."""
