"""The registry's use cases: each one a transaction of state and its events."""
