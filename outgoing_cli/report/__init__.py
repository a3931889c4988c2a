"""`outgoing report`: the outcomes of missions, per market, sector or mission, and an edition's KPIs.

``tally`` adds missions' figures exactly, ``rows`` turns them into the figures shown,
``formats`` prints them (table, JSON, CSV), ``charts`` and ``page`` make the HTML report,
``source`` reads them from matching's ``/views/outcomes`` or a file, ``command`` is the CLI.
"""
