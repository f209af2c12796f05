"""The metrics service's use cases: each one a unit of work (``unit_of_work.py``).

What goes here: folding one ``contrail.executions`` event into its roll-ups
(record its id in the inbox and add to the roll-up rows in one transaction, so
that a replayed event counts once) and answering summaries for the API. The
use cases take a unit of work factory, never a pool; ``bootstrap.py`` wires
them.
"""
