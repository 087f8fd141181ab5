"""robustest: robustness tests for dense retrievers."""
__version__ = "0.1.0"
