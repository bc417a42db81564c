"""wfpgen: Windows Filtering Platform callout-driver generator."""

__version__ = "0.1.0"
