"""The worker process: registers workflows and activities."""
