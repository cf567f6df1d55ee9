"""Offers's service layer: one module per resource."""
