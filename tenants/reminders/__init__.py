"""Reminders (the *piepsysteem*): deadlines of placements, candidates and guidance moments,
found by one daily job for all tenants, mailed once and kept in the municipality's inbox."""
