"""oddflights: find the odd flights in an ADS-B receiver's traffic."""

__version__ = "0.1.0"
