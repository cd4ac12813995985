"""The half-yearly settlement of a municipality (see docs/settlement.md)."""
