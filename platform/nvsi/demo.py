"""Demo data for the embedded default and for trying the platform: an NVSI administrator, a
backoffice user, three municipalities with staff and employers. Idempotent."""

from __future__ import annotations

from nvsi import migrate
from nvsi.auth.models import Role
from nvsi.auth.services import create_user, get_user_by_email
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import Router, tenant_session
from tenants.employers.services import create_employer, list_employers

#: Demo password of every demo account: printed, never used outside the demo.
DEMO_PASSWORD = "demo-wachtwoord-2026"

MUNICIPALITIES = [
    ("utrecht", "Gemeente Utrecht", "GM0344"),
    ("amersfoort", "Gemeente Amersfoort", "GM0307"),
    ("zwolle", "Gemeente Zwolle", "GM0193"),
]

EMPLOYERS = {
    "utrecht": [
        ("Groenvoorziening De Linde B.V.", "61234567", "NL012345672B01", "Lindelaan 12", "3511 AB", "Utrecht"),
        ("Bakkerij Domstad", "61234568", None, "Oudegracht 150", "3511 AZ", "Utrecht"),
    ],
    "amersfoort": [
        ("Logistiek Eemhaven B.V.", "71234567", "NL012345683B01", "Havenweg 3", "3812 PA", "Amersfoort"),
        ("Kringloop De Koppel", "71234568", None, "Koppelweg 8", "3812 RB", "Amersfoort"),
    ],
    "zwolle": [
        ("Hanze Schoonmaak B.V.", "81234567", "NL081234569B01", "Stationsweg 1", "8011 CZ", "Zwolle"),
        # The same KvK number as in Utrecht: tenants are independent of one another.
        ("Groenvoorziening De Linde B.V.", "61234567", "NL012345672B01", "Diezerstraat 5", "8011 RD", "Zwolle"),
    ],
}


def seed_demo(db, router: Router) -> list[str]:
    """Create what is missing of the demo; returns the lines to print."""
    migrate.upgrade_shared(router)
    session = db.session
    for slug, name, cbs_code in MUNICIPALITIES:
        tenant = tenancy.get_tenant(session, slug)
        if tenant is None:
            tenancy.register_tenant(session, slug, name, cbs_code)
            session.commit()
        if tenancy.get_tenant(session, slug).status is TenantStatus.PROVISIONING:
            tenancy.provision_tenant(session, router, slug)

    accounts = [("admin@nvsi.example", "NVSI-beheerder", Role.NVSI_ADMIN, None),
                ("backoffice@flextensie.example", "Backoffice Flextensie", Role.BACKOFFICE, None)]
    for slug, name, _ in MUNICIPALITIES:
        town = name.removeprefix("Gemeente ")
        accounts.append((f"beheer@{slug}.example", f"Beheerder {town}", Role.MUNICIPALITY_ADMIN, slug))
        accounts.append((f"medewerker@{slug}.example", f"Intercedent {town}", Role.MUNICIPALITY_STAFF, slug))
    for email, name, role, slug in accounts:
        if get_user_by_email(session, email) is None:
            tenants = [tenancy.get_tenant(session, slug)] if slug else []
            create_user(session, email, name, DEMO_PASSWORD, role, tenants)
    session.commit()

    for tenant in tenancy.active_tenants(session):
        with tenant_session(db, tenant, router=router) as ts:
            if list_employers(ts, archived=False).total or list_employers(ts, archived=True).total:
                continue
            for name, kvk, vat, street, postal, city in EMPLOYERS.get(tenant.slug, []):
                create_employer(ts, dict(
                    name=name, kvk_number=kvk, vat_id=vat, street_address=street,
                    postal_code=postal, city=city, contact_email=f"facturen@{kvk}.example",
                ))
            ts.commit()

    lines = ["Demo ready. Log in at http://127.0.0.1:8000/login with password "
             f"'{DEMO_PASSWORD}' as one of:"]
    lines += [f"  {email:<32} {role.value}" + (f" ({slug})" if slug else "")
              for email, _, role, slug in accounts]
    return lines
