"""The AWS emulator lives in the package (``patchwave.sim.emulator``) so benchmarks and
scenarios use it too; tests import it from here as they always did."""

from patchwave.sim.emulator import AwsError, Emulator, emulated_aws_fleet, emulated_session

__all__ = ["AwsError", "Emulator", "emulated_aws_fleet", "emulated_session"]
