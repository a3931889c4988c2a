"""Matching's pure rules: the mission's slot grid and the agenda scheduler. No I/O."""
