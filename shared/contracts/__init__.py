"""Event contracts: the envelope every message travels in, and the topics they travel on."""
