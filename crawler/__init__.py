"""Everything that talks to the web: spiders, discovery, extraction, classification, commands."""

__version__ = "0.1.0"
