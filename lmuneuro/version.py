"""The package version: one place, read by the package face, the CLI and the artifacts it writes."""

__version__ = "0.1.0"
