"""The launcher's use cases: launching executions and applying signals to them."""
