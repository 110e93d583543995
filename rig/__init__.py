"""rig: a focus-stacking rig controller for the Raspberry Pi."""

__version__ = "0.1.0"
