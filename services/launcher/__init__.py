"""Launcher: executions: launch, the engine that drives them, the scheduler."""
