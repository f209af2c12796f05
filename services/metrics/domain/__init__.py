"""The metrics service's domain: pure code, no I/O.

What goes here: the roll-ups (resource usage and durations per task attempt,
summed by project, workflow, task and day) and their sketches (DDSketch
buckets that merge, for percentiles with a bounded relative error), as plain
dataclasses and functions, unit-tested without Kafka or PostgreSQL.
"""
