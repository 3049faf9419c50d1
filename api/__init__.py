"""The HTTP API: talks to orders only through Temporal and the read model."""
