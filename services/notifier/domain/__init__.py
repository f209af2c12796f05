"""The notifier's domain: pure code, no I/O.

What goes here: the notification rules (which execution events, of which
projects, domains, workflows and phases, notify whom, over which channel) and
the matching of one event against them, which says what is to be delivered.
Plain dataclasses and functions, unit-tested without Kafka or PostgreSQL, as
the launcher's ``domain`` (its state machine) is.
"""
