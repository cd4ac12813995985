"""Imports every tenant model (tables in each tenant's schema)."""

from tenants.employers.models import Employer

__all__ = ["Employer"]
