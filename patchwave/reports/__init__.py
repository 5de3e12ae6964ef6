"""Reports: the run report model, its JSON/Markdown/HTML renderings, console output, notices."""
