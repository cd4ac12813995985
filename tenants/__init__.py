"""The tenant level: everything a municipality stores in its own schema.

Every domain package registers its pages and API views on the two tenant blueprints, which
resolve and check the tenant before any view runs.
"""


def register_tenant_blueprints(pages, api) -> None:
    """Attach every tenant domain's views to the tenant blueprints."""
    # The municipality's view of its candidates' premium payouts (the batches are shared-level).
    from nvsi.payouts import views as payouts
    from tenants.assignments import views as assignments
    from tenants.audit import views as audit
    from tenants.candidates import views as candidates
    from tenants.dashboard import views as dashboard
    from tenants.documents import views as documents
    from tenants.employers import views as employers
    from tenants.finance import views as finance
    from tenants.frameworks import setup_views as framework_setup
    from tenants.frameworks import views as frameworks
    from tenants.guidance import views as guidance
    from tenants.invoicing import views as invoicing
    from tenants.payments import views as payments
    from tenants.placements import views as placements
    from tenants.premiums import views as premiums
    from tenants.reminders import views as reminders
    from tenants.reports import views as reports
    from tenants.timesheets import views as timesheets
    from tenants.users import views as users

    for domain in (employers, frameworks, candidates, assignments, placements, documents, guidance, timesheets,
                   invoicing, payments, premiums, payouts, reports, reminders, dashboard, audit, users,
                   framework_setup, finance):
        domain.register_pages(pages)
        domain.register_api(api)


def register_public_blueprints(app) -> None:
    """Attach the tenant domains' public pages (no login; outside ``/g/<slug>``), which find
    their tenant in a signed token: the employer's approval of hours and the hosted invoice page;
    and the Stripe webhook, which finds its tenant in the payment's metadata."""
    from tenants.payments.public_views import pay, stripe_webhook
    from tenants.timesheets.views import public as timesheet_approval

    app.register_blueprint(timesheet_approval)
    app.register_blueprint(pay)
    app.register_blueprint(stripe_webhook)


def initialise_tenant(session) -> None:
    """Give a new tenant's schema its default rows (session bound to that tenant)."""
    from tenants.frameworks.services import initialise

    initialise(session)
