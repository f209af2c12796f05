"""The notifier's adapters: what its service layer reads, writes and calls.

What goes here: the repositories over its PostgreSQL tables (rules,
deliveries, the inbox of handled event ids), bound to the unit of work's
connection (``unit_of_work.py``), and the channels that send (email, Slack,
Teams, webhooks). No use case logic.
"""
