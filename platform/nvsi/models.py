"""Imports every model, so both metadata collections are complete (Alembic, create_all)."""

from nvsi.audit.models import AuditEvent  # noqa: F401,E402
from nvsi.auth.models import Membership, Role, User  # noqa: F401
from nvsi.catalogue.models import AccessRequest, Product  # noqa: F401
from nvsi.contract.models import ContractVersion, ExecutionContract  # noqa: F401
from nvsi.db import SharedBase, TenantBase  # noqa: F401
from nvsi.decisions.models import DevelopmentItem, Proposal, Vote  # noqa: F401
from nvsi.ledger.models import ClosedPeriod, LedgerAccount, LedgerEntry, LedgerTransaction  # noqa: F401,E402
from nvsi.members.models import Offboarding  # noqa: F401,E402
from nvsi.onboarding.models import (  # noqa: F401,E402
    AgreementAcceptance,
    AgreementText,
    FrameworkSetupStep,
    MembershipApplication,
    ProvisioningJob,
    ProvisioningStep,
)
from nvsi.payments.bank_models import BankLine, BankStatement  # noqa: F401,E402
from nvsi.payments.models import StripeEvent  # noqa: F401,E402
from nvsi.payouts.models import PayoutBatch, PayoutItem  # noqa: F401,E402
from nvsi.rules.models import RuleParameter, RuleSetVersion, RuleValue  # noqa: F401
from nvsi.settlement.models import Settlement  # noqa: F401,E402
from nvsi.tenancy.models import Tenant, TenantStatus  # noqa: F401
from tenants.models import *  # noqa: F401,F403
