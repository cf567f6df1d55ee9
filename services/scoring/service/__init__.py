"""Scoring's service layer: one module per resource, called by the routers and the worker."""
