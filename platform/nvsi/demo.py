"""Demo data for the embedded default and for trying the platform: an NVSI administrator, a
backoffice user, three municipalities with staff and employers. Idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nvsi import migrate
from nvsi.auth.models import Role
from nvsi.auth.services import create_user, get_user_by_email
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import Router, tenant_session
from tenants.assignments.services import create_assignment
from tenants.candidates.services import register_candidate
from tenants.employers.services import create_employer, list_employers
from tenants.frameworks.services import replace_arrangements
from tenants.placements.services import create_placement

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


#: Demo candidates per municipality: BSN (valid 11-test, fictitious), first name, last name, IBAN.
CANDIDATES = {
    "utrecht": [("100023757", "Sanne", "de Vries", "NL20INGB0001234567"),
                ("100039595", "Mohamed", "El Amrani", None),
                ("100126704", "Kees", "Jansen", "NL44RABO0123456789")],
    "amersfoort": [("100174218", "Fatima", "Bakker", None), ("100372193", "Jan", "Visser", None)],
    "zwolle": [("100419707", "Lotte", "Smit", None), ("100475140", "Ahmet", "Yilmaz", None)],
}


def _seed_tenant_work(ts, tenant, today: dt.date) -> None:
    """Arrangements, candidates, an assignment per employer and a first placement."""
    arrangements = replace_arrangements(ts, tenant, [
        {"code": "1", "name": "Arrangement 1", "target_share_pct": Decimal("15")},
        {"code": "3", "name": "Arrangement 3", "target_share_pct": Decimal("85")},
    ])
    candidates = [
        register_candidate(ts, {"bsn": bsn, "first_name": first, "last_name": last, "iban": iban,
                                "arrangement_id": arrangements[1 if i else 0].id,
                                "registered_on": today - dt.timedelta(days=60), "consent": True,
                                "work_preferences": "Buitenwerk, ochtenden"}, recorded_by=None)
        for i, (bsn, first, last, iban) in enumerate(CANDIDATES.get(tenant.slug, []))
    ]
    assignments = [
        create_assignment(ts, tenant, {
            "employer_id": employer.id, "title": f"Ondersteuning {employer.city}", "description": "",
            "hours_per_week": Decimal("24"), "hourly_rate_cents": 1471, "location": employer.city,
            "start_date": today - dt.timedelta(days=30), "end_date": None,
            "displacement_declared_by": "Directie " + employer.name,
        }, user_id=None)
        for employer in list_employers(ts).items
    ]
    if candidates and assignments:
        create_placement(ts, tenant, {
            "candidate_id": candidates[0].id, "assignment_id": assignments[0].id,
            "start_date": today - dt.timedelta(days=14), "hours_per_week": Decimal("16"),
            "goals": "Werkritme opdoen en samenwerken in een team.",
        }, user_id=None)


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

    tenants = tenancy.active_tenants(session)
    # End the shared session's read transaction: on SQLite it would keep the main file locked
    # while a tenant session writes there (the audit log), and that commit would wait in vain.
    session.commit()
    for tenant in tenants:
        with tenant_session(db, tenant, router=router) as ts:
            if list_employers(ts, archived=False).total or list_employers(ts, archived=True).total:
                continue
            for name, kvk, vat, street, postal, city in EMPLOYERS.get(tenant.slug, []):
                create_employer(ts, dict(
                    name=name, kvk_number=kvk, vat_id=vat, street_address=street,
                    postal_code=postal, city=city, contact_email=f"facturen@{kvk}.example",
                ))
            _seed_tenant_work(ts, tenant, dt.date.today())
            ts.commit()

    lines = ["Demo ready. Log in at http://127.0.0.1:8000/login with password "
             f"'{DEMO_PASSWORD}' as one of:"]
    lines += [f"  {email:<32} {role.value}" + (f" ({slug})" if slug else "")
              for email, _, role, slug in accounts]
    lines.append("The nvsi_admin and backoffice accounts link an authenticator app (TOTP) at their first "
                 "login: two-factor login is mandatory for them (docs/authentication.md).")
    return lines
