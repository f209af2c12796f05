"""Metrics: resource accounting per task attempt; summaries by project, workflow, day."""
