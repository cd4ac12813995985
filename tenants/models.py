"""Imports every tenant model (tables in each tenant's schema)."""

from tenants.assignments.models import Assignment
from tenants.candidates.models import Candidate
from tenants.employers.models import Employer
from tenants.frameworks.models import Arrangement, FrameworkSettings, GuidanceStep, LocalRuleValue
from tenants.placements.models import Placement

__all__ = [
    "Arrangement", "Assignment", "Candidate", "Employer", "FrameworkSettings", "GuidanceStep",
    "LocalRuleValue", "Placement",
]
