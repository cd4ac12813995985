"""Member administration: member statuses, suspension (read-only), offboarding with a complete
export, retention of the archive, and each member's key figures (NVSI administrators)."""
