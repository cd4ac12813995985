"""The audit log: who did what, when, in which tenant, to which object (append-only)."""
