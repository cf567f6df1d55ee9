"""Tenure's own library: what every service is built on."""
