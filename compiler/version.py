"""The compiler's static version (never a git SHA: outputs must be reproducible)."""

__version__ = "0.1.0"
API_GROUP = "specops.dev"
API_VERSION = "specops.dev/v1alpha1"

__all__ = ["__version__", "API_GROUP", "API_VERSION"]
