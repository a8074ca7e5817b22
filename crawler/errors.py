"""The few named errors Palimpsest raises; each says what was wrong and where."""


class PalimpsestError(Exception):
    """Base class of our own errors."""


class ConfigError(PalimpsestError):
    """A setting or site config is invalid; the message names the key and the file."""


class StoreError(PalimpsestError):
    """A file could not be put into (or read from) the store."""
