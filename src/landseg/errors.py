"""Exceptions users can act on. Messages name the file or value and say what to do."""


class LandsegError(Exception):
    """Base class for errors caused by user input (printed without a traceback by the CLI)."""


class DatasetError(LandsegError, ValueError):
    """A dataset file is missing, unreadable or inconsistent."""


class ConfigError(LandsegError, ValueError):
    """An experiment config has an unknown key or an invalid value."""


class CheckpointError(LandsegError, ValueError):
    """A checkpoint cannot be loaded into the requested model."""
