"""patchwave: staged patch windows for AWS Systems Manager fleets.

Floor 1 (domain) lives in the modules of this package; floor 2 (adapters) in
``patchwave.aws`` and ``patchwave.sim``. Flows and tasks (floor 3) are the top-level
``flows`` and ``tasks`` packages; the CLI (floor 4) is ``patchwave.cli``.
"""

__version__ = "0.1.0"
