"""enrolsync: sync people from HR systems into learning platforms."""

__version__ = "0.1.0"
