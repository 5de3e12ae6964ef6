"""Floor 3: Prefect tasks, each wrapping one domain call, at wave or batch granularity."""
