"""Routers every service mounts."""
