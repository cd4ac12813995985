"""Assignments (*opdrachten*) of employers."""
