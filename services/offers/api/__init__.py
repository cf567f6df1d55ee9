"""Offers's HTTP API: one thin router per resource."""
