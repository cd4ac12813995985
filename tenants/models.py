"""Imports every tenant model (tables in each tenant's schema)."""

from tenants.assignments.models import Assignment
from tenants.candidates.models import Candidate
from tenants.documents.models import Document
from tenants.employers.models import Employer
from tenants.frameworks.models import Arrangement, FrameworkSettings, GuidanceStep, LocalRuleValue
from tenants.guidance.models import GuidanceMoment
from tenants.invoicing.models import Invoice, InvoicedEntry, InvoiceLine, InvoiceSeries
from tenants.payments.models import DunningNotice, Payment, PaymentAttempt
from tenants.placements.models import Placement
from tenants.premiums.models import PremiumAccrual, PremiumFlag, TravelCost
from tenants.reminders.models import Reminder
from tenants.reports.models import ArrangementChange, WelfareExit
from tenants.timesheets.models import TimesheetBatch, TimesheetEntry

__all__ = [
    "Arrangement", "Assignment", "Candidate", "Document", "Employer", "FrameworkSettings", "GuidanceMoment",
    "GuidanceStep", "Invoice", "InvoiceLine", "InvoiceSeries", "InvoicedEntry", "LocalRuleValue", "Placement", "Reminder",
    "ArrangementChange", "DunningNotice", "Payment", "PaymentAttempt", "PremiumAccrual", "PremiumFlag", "TravelCost", "WelfareExit", "TimesheetBatch", "TimesheetEntry",
]
