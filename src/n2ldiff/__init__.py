"""n2ldiff."""

__version__ = "0.1.0"
