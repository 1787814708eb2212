"""Servicedeck: a desktop console for IT service managers."""

__version__ = "0.1.0"
APP_NAME = "Servicedeck"
