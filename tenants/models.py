"""Imports every tenant model (tables in each tenant's schema)."""

from tenants.employers.models import Employer
from tenants.frameworks.models import Arrangement, FrameworkSettings, GuidanceStep, LocalRuleValue

__all__ = ["Employer", "Arrangement", "FrameworkSettings", "GuidanceStep", "LocalRuleValue"]
