"""The tenant level: everything a municipality stores in its own schema.

Every domain package registers its pages and API views on the two tenant blueprints, which
resolve and check the tenant before any view runs.
"""


def register_tenant_blueprints(pages, api) -> None:
    """Attach every tenant domain's views to the tenant blueprints."""
    from tenants.assignments import views as assignments
    from tenants.candidates import views as candidates
    from tenants.documents import views as documents
    from tenants.employers import views as employers
    from tenants.frameworks import views as frameworks
    from tenants.guidance import views as guidance
    from tenants.placements import views as placements

    for domain in (employers, frameworks, candidates, assignments, placements, documents, guidance):
        domain.register_pages(pages)
        domain.register_api(api)


def initialise_tenant(session) -> None:
    """Give a new tenant's schema its default rows (session bound to that tenant)."""
    from tenants.frameworks.services import initialise

    initialise(session)
