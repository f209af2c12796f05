"""Launcher workers: members of one consumer group on ``contrail.dispatch``."""
