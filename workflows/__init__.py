"""Order flows as Temporal workflows (deterministic code only)."""
