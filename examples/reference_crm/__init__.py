"""A reference CRM consumer of Outgoing's public topics: the example a CRM team copies.

Plain aiokafka, the official CloudEvents SDK and sqlite3; nothing from Outgoing's own code.
See README.md.
"""
