"""pydistroless: minimal Python container images from signed Debian archives."""

__version__ = "0.1.0"
