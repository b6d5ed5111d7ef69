"""Training with Lightning (no network definitions here)."""
