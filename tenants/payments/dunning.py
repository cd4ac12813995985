"""Dunning: reminders to the employer for an invoice that is not paid after its due date.

The schedule is :data:`SCHEDULE`, the one place that says when: a first reminder 5 days after
the due date, a second after 12 days, then a final notice after 19 days (a week after the
second, as between the first two). Each level is mailed once per invoice to the buyer's e-mail
address: :class:`~tenants.payments.models.DunningNotice` is unique per (invoice, level), so a
second run — or two runs at once — sends nothing twice. A mail that fails leaves ``sent_at``
empty; the next run tries again, as long as the invoice is still unpaid.

Which level: the highest whose day has come. A run that catches up after days without one
sends that level only, not the ones it skipped (an employer gets no first reminder after the
second was due); a lower notice whose mail failed is not retried once a higher level is due.
An invoice paid or credited in between — fully, its outstanding amount zero — gets nothing more.

Sessions are bound to one tenant; functions flush, never commit: the daily job passes its
commit as ``checkpoint``, called after each notice, so a notice mailed stays recorded as sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.db import utcnow
from nvsi.mail import Mail, Mailer, MailError
from nvsi.tenancy.routing import TenantRef
from tenants.documents.pdf import long_date, money
from tenants.invoicing.documents import cents_to_decimal
from tenants.invoicing.models import DocumentType, Invoice, PaymentStatus
from tenants.invoicing.pdf import format_iban
from tenants.payments.models import DunningLevel, DunningNotice, Payment

#: Days after the due date at which each level is due, in order (see the module's docstring).
SCHEDULE: tuple[tuple[DunningLevel, int], ...] = (
    (DunningLevel.FIRST_REMINDER, 5),
    (DunningLevel.SECOND_REMINDER, 12),
    (DunningLevel.FINAL_NOTICE, 19),
)
#: The levels, in the user's language.
LEVEL_LABELS = {
    DunningLevel.FIRST_REMINDER: _l("eerste herinnering"),
    DunningLevel.SECOND_REMINDER: _l("tweede herinnering"),
    DunningLevel.FINAL_NOTICE: _l("laatste aanmaning"),
}
#: Days the employer is given in a reminder to pay.
PAY_WITHIN_DAYS = 7
#: Invoices that can still be owed something.
UNPAID = (PaymentStatus.OPEN, PaymentStatus.PARTIALLY_PAID)


def level_on(due_date: dt.date, today: dt.date) -> DunningLevel | None:
    """The highest level due on ``today`` for an invoice due on ``due_date`` (None: none yet)."""
    level = None
    for candidate, days in SCHEDULE:
        if today >= due_date + dt.timedelta(days=days):
            level = candidate
    return level


def level_day(due_date: dt.date, level: DunningLevel) -> dt.date:
    """The day ``level`` becomes due for an invoice due on ``due_date``."""
    return due_date + dt.timedelta(days=dict(SCHEDULE)[level])


def _outstanding():
    return Invoice.gross_cents - Invoice.paid_cents - Invoice.credited_cents


def overdue_invoices(session: Session, today: dt.date, grace_days: int = 0) -> list[Invoice]:
    """Unpaid invoices (something outstanding) whose due date lies more than ``grace_days``
    before ``today``, the oldest due first."""
    return list(session.scalars(
        sa.select(Invoice).where(Invoice.doc_type == DocumentType.INVOICE, Invoice.status.in_(UNPAID),
                                 _outstanding() > 0, Invoice.due_date < today - dt.timedelta(days=grace_days))
        .order_by(Invoice.due_date, Invoice.id)
    ))


def notices_for(session: Session, invoice_ids: list[int]) -> dict[int, list[DunningNotice]]:
    """The notices of each invoice, in the order of the schedule."""
    found: dict[int, list[DunningNotice]] = {i: [] for i in invoice_ids}
    if not invoice_ids:
        return found
    order = {level: i for i, (level, _days) in enumerate(SCHEDULE)}
    rows = session.scalars(sa.select(DunningNotice).where(DunningNotice.invoice_id.in_(invoice_ids)))
    for notice in sorted(rows, key=lambda n: order[n.level]):
        found[notice.invoice_id].append(notice)
    return found


def last_sent(notices: list[DunningNotice]) -> DunningNotice | None:
    """The highest level actually mailed, if any."""
    sent = [n for n in notices if n.sent_at is not None]
    return sent[-1] if sent else None


# -- the mail ----------------------------------------------------------------------------------


def _pay_paragraph(tenant: TenantRef, invoice: Invoice) -> str:
    """The link to the hosted invoice page, when an absolute link can be made."""
    if not current_app.config.get("MAIL_LINK_BASE_URL") and not has_request_context():
        return ""
    try:
        from tenants.payments.online import pay_link
    except ModuleNotFoundError:
        return ""
    return "\n\n" + _("U kunt ook direct online betalen met iDEAL of kaart: %(link)s", link=pay_link(tenant, invoice))


def compose(tenant: TenantRef, invoice: Invoice, level: DunningLevel) -> tuple[str, str]:
    """The Dutch subject and body of a notice: the outstanding amount, the payment reference
    and the pay link. The subject names no person."""
    seller = invoice.seller
    with force_locale("nl"):
        facts = dict(number=invoice.number, seller=seller["name"], municipality=tenant.name,
                     date=long_date(invoice.issue_date), due=long_date(invoice.due_date),
                     amount=money(cents_to_decimal(invoice.outstanding_cents)),
                     iban=format_iban(seller.get("iban", "")), reference=invoice.payment_reference,
                     days=PAY_WITHIN_DAYS, email=seller.get("email", ""), online=_pay_paragraph(tenant, invoice))
        if level is DunningLevel.FIRST_REMINDER:
            subject = _("Herinnering: factuur %(number)s van %(seller)s (%(municipality)s)", **facts)
            opening = _("Volgens onze administratie is factuur %(number)s van %(date)s nog niet (volledig) betaald. "
                        "De vervaldatum was %(due)s.", **facts)
        elif level is DunningLevel.SECOND_REMINDER:
            subject = _("Tweede herinnering: factuur %(number)s van %(seller)s (%(municipality)s)", **facts)
            opening = _("Ondanks onze eerdere herinnering is factuur %(number)s van %(date)s nog niet (volledig) "
                        "betaald. De vervaldatum was %(due)s.", **facts)
        else:
            subject = _("Laatste aanmaning: factuur %(number)s van %(seller)s (%(municipality)s)", **facts)
            opening = _("Ondanks twee herinneringen is factuur %(number)s van %(date)s nog niet (volledig) betaald. "
                        "De vervaldatum was %(due)s. Dit is onze laatste aanmaning: betaalt u niet binnen "
                        "%(days)s dagen, dan nemen wij verdere maatregelen om het bedrag te innen.", **facts)
        body = _(
            "Geachte heer/mevrouw,\n\n%(opening)s\n\n"
            "Nog te betalen: %(amount)s. Wij verzoeken u dit bedrag binnen %(days)s dagen over te maken op "
            "IBAN %(iban)s ten name van %(seller)s, onder vermelding van betalingskenmerk %(reference)s."
            "%(online)s\n\n"
            "Heeft u het bedrag de afgelopen dagen al betaald, dan kunt u dit bericht als niet verzonden "
            "beschouwen.\n\nMet vriendelijke groet,\n%(seller)s\n%(email)s",
            opening=opening, **facts,
        )
    return subject[:200], body


# -- the daily job -----------------------------------------------------------------------------


@dataclass
class RunResult:
    """What :func:`run` did for one tenant."""

    created: int = 0
    sent: int = 0
    failed: int = 0
    #: The mail server could not be reached: nothing more was tried.
    server_down: bool = False
    #: Invoices without an e-mail address of the buyer (their notices wait, unsent).
    no_address: list[int] = field(default_factory=list)


def _notice(session: Session, invoice: Invoice, level: DunningLevel, today: dt.date) -> tuple[DunningNotice, bool]:
    """The notice of ``invoice`` at ``level``, made now if new (True); the unique key decides
    when two runs make it at once (the loser finds the winner's)."""
    query = sa.select(DunningNotice).where(DunningNotice.invoice_id == invoice.id, DunningNotice.level == level)
    existing = session.scalar(query)
    if existing is not None:
        return existing, False
    notice = DunningNotice(invoice_id=invoice.id, level=level, due_on=level_day(invoice.due_date, level),
                           outstanding_cents=invoice.outstanding_cents)
    try:
        with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        return session.scalar(query), False
    return notice, True


def send(session: Session, tenant: TenantRef, invoice: Invoice, notice: DunningNotice, mailer: Mailer) -> bool:
    """Mail ``notice`` to the buyer and record it sent (audited); False when there is no
    address. Raises the :class:`MailError` of a failure (the notice stays unsent)."""
    to = (invoice.buyer or {}).get("email") or ""
    if not to:
        return False
    subject, body = compose(tenant, invoice, notice.level)
    headers = {"Auto-Submitted": "auto-generated"}
    if invoice.seller.get("email"):
        headers["Reply-To"] = invoice.seller["email"]
    result = mailer.send(Mail((to,), subject, body, headers))
    notice.sent_at = utcnow()
    notice.outstanding_cents = invoice.outstanding_cents
    session.flush()
    record(session, "invoice.dunning_sent", tenant_id=tenant.id, object_type="invoice", object_id=invoice.id,
           changes={"number": invoice.number, "level": notice.level.value,
                    "outstanding_cents": notice.outstanding_cents, "via": result.via},
           actor_label="system:dunning")
    return True


def run(session: Session, tenant: TenantRef, today: dt.date, mailer: Mailer | None,
        checkpoint=lambda: None) -> RunResult:
    """The daily job for one tenant: for every unpaid invoice whose dunning level has come,
    make its notice (once) and mail it unless it went out before. ``mailer`` None (or the
    server found down): notices are made and kept unsent, for the next run."""
    result = RunResult()
    first_days = SCHEDULE[0][1]
    for invoice in overdue_invoices(session, today, grace_days=first_days - 1):
        level = level_on(invoice.due_date, today)
        if level is None:
            continue
        notice, made = _notice(session, invoice, level, today)
        if notice is None:
            continue
        result.created += int(made)
        if notice.sent_at is None and mailer is not None and not result.server_down:
            # Locked while it is mailed: a concurrent run skips it (PostgreSQL; SQLite has one writer).
            locked = session.scalar(sa.select(DunningNotice).where(DunningNotice.id == notice.id,
                                                                   DunningNotice.sent_at.is_(None))
                                    .with_for_update(skip_locked=True))
            if locked is not None:
                try:
                    if send(session, tenant, invoice, locked, mailer):
                        result.sent += 1
                    else:
                        result.no_address.append(invoice.id)
                except MailError as exc:
                    result.failed += 1
                    result.server_down = exc.server_down
        checkpoint()
    return result


# -- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueRow:
    """An unpaid invoice past its due date, with its dunning so far."""

    invoice: Invoice
    days_overdue: int
    notices: list[DunningNotice]

    @property
    def level(self) -> DunningLevel | None:
        """The highest level mailed (None: no reminder sent yet)."""
        notice = last_sent(self.notices)
        return notice.level if notice is not None else None


def overdue(session: Session, today: dt.date) -> list[OverdueRow]:
    """Every unpaid invoice past its due date, the oldest due first, with its notices."""
    invoices = overdue_invoices(session, today)
    notices = notices_for(session, [i.id for i in invoices])
    return [OverdueRow(i, (today - i.due_date).days, notices[i.id]) for i in invoices]


@dataclass(frozen=True)
class ReceivedPayment:
    """A payment (or refund) with the number of its invoice."""

    payment: Payment
    invoice_number: str


def payments_received(session: Session, *, page: int = 1, per_page: int = 50) -> tuple[list[ReceivedPayment], int]:
    """Payments and refunds booked for the tenant's invoices, the latest first; and how many."""
    total = session.scalar(sa.select(sa.func.count()).select_from(Payment))
    rows = session.execute(
        sa.select(Payment, Invoice.number).join(Invoice, Invoice.id == Payment.invoice_id)
        .order_by(Payment.received_on.desc(), Payment.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return [ReceivedPayment(p, number) for p, number in rows], total
