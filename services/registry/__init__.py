"""Registry: tasks, workflows and launch plans, compiled and immutable; the data proxy."""
