"""Notifier: notification rules and their deliveries: email, Slack, Teams, webhooks."""
