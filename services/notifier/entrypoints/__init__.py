"""The notifier's entrypoints: its HTTP app and its Kafka consumer.

What goes here: routes and subscribers that parse what comes in, call one use
case of the service layer (wired by ``bootstrap.py``) and answer. No SQL, no
rules.
"""
