"""The plastix version, recorded in every run's ``config.json``."""

__version__ = "0.7.0"
