"""Candidates (*kandidaten*): people on welfare who registered voluntarily."""
