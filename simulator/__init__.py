"""A simulated MSP: Microsoft Graph and CIPP-API on loopback in their real shapes.

See docs/simulator-contract.md.
"""

from simulator.app import SimConfig, Simulator
from simulator.server import make_token

__all__ = ["SimConfig", "Simulator", "make_token"]
