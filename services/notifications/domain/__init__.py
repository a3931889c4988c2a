"""Pure rules of the notifications service: who gets what, in which language, and how it is written."""
