"""HTTP routes: the device protocol under /api/v1 and the shared dependencies."""
