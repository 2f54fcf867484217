"""Talking to container registries: references, credentials, the distribution API."""
