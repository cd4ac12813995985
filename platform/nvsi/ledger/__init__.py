"""The NVSI ledger: double-entry, append-only, balanced by the database itself."""
