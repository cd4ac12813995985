"""A municipality's own audit log (its administrators only): who did what in this tenant."""
