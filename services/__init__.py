"""The four Tenure services, each its own FastAPI app and process."""
