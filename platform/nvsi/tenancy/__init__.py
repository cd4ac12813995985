"""Tenancy: the registry of member municipalities and the routing of work to their schemas."""
