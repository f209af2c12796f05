"""The local stack on one machine: ``contrail demo up | down | status | logs``.

``stack.Stack`` is the entry point; the other modules each do one part of its
work: where files live (``layout``), what is installed (``install``), which
configs are written (``render``), how processes are started and recognised
(``processes``, ``pidfiles``, ``procfs``), and how each part is checked
(``probes``, ``components``, ``postgres``).
"""
