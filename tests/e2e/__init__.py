"""End-to-end tests: the ``contrail`` command, as a user runs it, against the real stack."""
