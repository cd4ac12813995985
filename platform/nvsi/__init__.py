"""The NVSI platform: the shared (association) level of the Flextensie instrument."""

from nvsi.app import create_app

__all__ = ["create_app"]
