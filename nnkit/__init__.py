"""Shared pieces of the kit: dataset loading, gradient checking and stub generation."""

__version__ = "0.1.0"
