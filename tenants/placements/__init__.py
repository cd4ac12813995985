"""Placements (*plaatsingen*): a candidate on an assignment, within the rules."""
