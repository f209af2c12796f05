"""The metrics service's adapters: what its service layer reads and writes.

What goes here: the repositories over its PostgreSQL tables (roll-up rows with
their sketch buckets, the inbox of handled event ids), bound to the unit of
work's connection (``unit_of_work.py``). No use case logic.
"""
