"""The notifier's use cases: each one a unit of work (``unit_of_work.py``).

What goes here: handling one ``contrail.executions`` event (record its id in
the inbox, match the rules, store the deliveries still to send, in one
transaction, so that a replayed event changes nothing) and sending what is
due after the commit; managing rules for the API. The use cases take a unit
of work factory, never a pool; ``bootstrap.py`` wires them.
"""
