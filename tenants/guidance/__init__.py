"""Guidance moments (*begeleidingsmomenten*): planned per placement from the local framework's
schedule; staff record the outcome and whether the assignment still serves the goals."""
