"""vlsearch: image-and-text hybrid search over a private collection."""

__version__ = "0.1.0"
