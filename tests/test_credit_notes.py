"""Credit notes: invoiced hours that an approved correction replaced are credited in the next run
on a credit note naming the invoice (and the correction is invoiced normally); the backoffice's
manual credit of an open invoice mirrors it to the cent; the ledger gets the mirror postings;
nothing is credited twice; an issued credit note is frozen like an invoice. Both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.ledger.chart import RECEIVABLES, REVENUE, VAT_PAYABLE
from nvsi.ledger.models import LedgerTransaction
from nvsi.ledger.services import entries_by_transaction, trial_balance
from tenants.invoicing import services
from tenants.invoicing.models import DocumentType, EntryRole, Invoice, InvoicedEntry, PaymentStatus
from tests.test_invoice_run import ALPHA, WEEK, approved, invoices, run, week_of_38_hours, working

D = Decimal
NEXT_WEEK = (dt.date(2026, 3, 9), dt.date(2026, 3, 15))
NEXT_ISSUE = dt.date(2026, 3, 16)


@pytest.fixture
def alpha(app, tenant_session):
    with app.app_context():
        yield tenant_session("alpha")


def posted(session, invoice: Invoice) -> dict:
    """The ledger entries of a document: {(code, tenant): cents}."""
    entries = entries_by_transaction(session, [invoice.ledger_transaction_id])[invoice.ledger_transaction_id]
    return {(e.account.code, e.account.tenant_id): e.amount_cents for e in entries}


def corrected_friday(session, placement, hours="4"):
    """Friday 6 March (6 hours, invoiced) corrected to ``hours`` and approved."""
    return approved(session, placement, (dt.date(2026, 3, 6), hours))


def test_a_correction_is_credited_in_the_next_run_and_itself_invoiced(alpha):
    placement = working(alpha)
    entries = week_of_38_hours(alpha, placement)
    run(alpha)
    [original] = invoices(alpha)
    [correction] = corrected_friday(alpha, placement)
    assert correction.corrects_entry_id == entries[4].id
    result = run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE)
    assert (result.invoices, result.credit_notes, result.entries, result.credited_entries) == (1, 1, 1, 1)
    docs = invoices(alpha)
    [note] = [d for d in docs if d.doc_type is DocumentType.CREDIT_NOTE]
    [new] = [d for d in docs if d.doc_type is DocumentType.INVOICE and d.id != original.id]
    # The credit note: 6 hours back at 12.30 = -73.80; VAT -15.498 → -15.50; -89.30.
    assert note.credits_invoice_id == original.id and note.employer_id == original.employer_id
    assert note.number == "GM9001-C2026-000001" and note.issue_date == NEXT_ISSUE
    assert (note.net_cents, note.vat_cents, note.gross_cents) == (-7380, -1550, -8930)
    [line] = note.lines
    assert (line.hours, line.rate_cents, line.net_cents, line.placement_id) == (D("-6.00"), 1230, -7380, placement.id)
    assert (line.service_start, line.service_end) == (dt.date(2026, 3, 6), dt.date(2026, 3, 6))
    assert line.description.startswith("Correctie uren: Groenonderhoud Lindelaan – Anna J.")
    # The correction itself, 4 hours of 6 March, on the next invoice: 49.20 + 10.33 = 59.53.
    assert new.number == "GM9001-F2026-000002"
    assert (new.net_cents, new.vat_cents, new.gross_cents) == (4920, 1033, 5953)
    assert (new.lines[0].service_start, new.period_start) == (dt.date(2026, 3, 6), dt.date(2026, 3, 6))
    # The original is never edited: only its payment state moved.
    original = alpha.get(Invoice, original.id)
    assert (original.net_cents, original.gross_cents, original.credited_cents) == (46740, 56555, 8930)
    assert original.status is PaymentStatus.OPEN and original.outstanding_cents == 56555 - 8930
    # The entries: the replaced one credited once, the correction invoiced once.
    roles = dict(alpha.execute(sa.select(InvoicedEntry.role, sa.func.count()).group_by(InvoicedEntry.role)).all())
    assert roles == {EntryRole.INVOICED: 6, EntryRole.CREDITED: 1}
    assert alpha.scalar(sa.select(InvoicedEntry.entry_id).where(InvoicedEntry.role == EntryRole.CREDITED)) == entries[4].id
    # The ledger: the mirror of an invoice posting.
    assert posted(alpha, note) == {(RECEIVABLES, ALPHA.id): -8930, (REVENUE, ALPHA.id): 7380, (VAT_PAYABLE, None): 1550}
    transaction = alpha.get(LedgerTransaction, note.ledger_transaction_id)
    assert (transaction.kind, transaction.idempotency_key) == ("credit_note", "invoice:alpha:GM9001-C2026-000001")
    assert trial_balance(alpha).total == 0
    # Running again credits and invoices nothing more.
    again = run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE)
    assert (again.invoices, again.credit_notes) == (0, 0)


def test_a_correction_to_zero_hours_is_credited_and_nothing_new_invoiced(alpha):
    placement = working(alpha)
    week_of_38_hours(alpha, placement)
    run(alpha)
    corrected_friday(alpha, placement, "0")
    result = run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE)
    assert (result.invoices, result.credit_notes, result.credited_cents) == (0, 1, -8930)


def test_corrections_of_two_invoices_give_a_credit_note_each(alpha):
    a = working(alpha, first_name="Anna")
    b = working(alpha, first_name="Bram")  # another employer (the factory makes one per placement)
    approved(alpha, a, (WEEK[0], "8"))
    approved(alpha, b, (WEEK[0], "8"))
    run(alpha)
    first, second = invoices(alpha)
    approved(alpha, a, (WEEK[0], "7"))
    approved(alpha, b, (WEEK[0], "5"))
    result = run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE)
    assert (result.credit_notes, result.invoices) == (2, 2)
    notes = [d for d in invoices(alpha) if d.doc_type is DocumentType.CREDIT_NOTE]
    assert [(n.number, n.credits_invoice_id) for n in notes] == [
        ("GM9001-C2026-000001", first.id), ("GM9001-C2026-000002", second.id)]


def test_the_backoffice_credits_a_whole_open_invoice_as_its_mirror(alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    [invoice] = invoices(alpha)
    note = services.credit_invoice(alpha, ALPHA, invoice, "Verkeerde werkgever gefactureerd", user_id=None,
                                   issue_date=dt.date(2026, 3, 12))
    assert (note.doc_type, note.credits_invoice_id, note.number) == (DocumentType.CREDIT_NOTE, invoice.id,
                                                                      "GM9001-C2026-000001")
    assert (note.net_cents, note.vat_cents, note.gross_cents) == (-46740, -9815, -56555)
    assert [(line.hours, line.net_cents) for line in note.lines] == [(D("-38.00"), -46740)]
    assert note.lines[0].description.startswith("Creditering: ")
    invoice = alpha.get(Invoice, invoice.id)
    assert (invoice.credited_cents, invoice.status, invoice.outstanding_cents) == (56555, PaymentStatus.CREDITED, 0)
    assert posted(alpha, note) == {(RECEIVABLES, ALPHA.id): -56555, (REVENUE, ALPHA.id): 46740,
                                   (VAT_PAYABLE, None): 9815}
    event = alpha.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.credited")).one()
    assert event.object_id == str(invoice.id) and event.changes["reason"] == "Verkeerde werkgever gefactureerd"
    # Once is enough; and the hours are not invoiced again by a later run.
    with pytest.raises(services.CreditRefused) as refused:
        services.credit_invoice(alpha, ALPHA, invoice, "nog eens", user_id=None, issue_date=dt.date(2026, 3, 12))
    assert refused.value.violations[0].code == "invoice_not_open"
    assert run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE).invoices == 0


def test_credit_after_a_correction_credit_leaves_the_invoice_at_exactly_zero(alpha):
    """Half-cent lines: 0.25 h at EUR 12.30 is 3.075 → 3.08. The invoice line of 4 × 0.25 h is
    12.30; after a correction credited one entry (-3.08), the manual credit takes the rest of
    the line (-9.22, not 3 × -3.08), and the VAT that is left (2.58 - 0.65 = 1.93, where 21% of
    9.22 would be 1.94), so the credits add up to the invoice exactly."""
    placement = working(alpha)
    entries = approved(alpha, placement, *((WEEK[0] + dt.timedelta(days=i), "0.25") for i in range(4)))
    run(alpha)
    [invoice] = invoices(alpha)
    assert invoice.lines[0].net_cents == 1230
    approved(alpha, placement, (entries[0].work_date, "0.5"))  # a correction of the first day
    run(alpha, period=NEXT_WEEK, issued=NEXT_ISSUE)
    note = services.credit_invoice(alpha, ALPHA, alpha.get(Invoice, invoice.id), "Afspraak met werkgever",
                                   user_id=None, issue_date=NEXT_ISSUE)
    assert note.lines[0].net_cents == -922 and note.lines[0].hours == D("-0.75")
    notes = [d for d in invoices(alpha) if d.credits_invoice_id == invoice.id]
    assert sum(n.net_cents for n in notes) == -1230
    assert [n.vat_cents for n in notes] == [-65, -193] and invoice.vat_cents == 258
    invoice = alpha.get(Invoice, invoice.id)
    assert invoice.status is PaymentStatus.CREDITED and invoice.outstanding_cents == 0
    assert alpha.scalar(sa.select(sa.func.count()).select_from(InvoicedEntry)
                        .where(InvoicedEntry.role == EntryRole.CREDITED)) == 4


def test_a_paid_invoice_or_a_credit_note_is_not_credited_and_a_reason_is_required(alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    [invoice] = invoices(alpha)
    with pytest.raises(services.CreditRefused) as refused:
        services.credit_invoice(alpha, ALPHA, invoice, "  ", user_id=None)
    assert refused.value.violations[0].field == "reason"
    with alpha.begin_nested():
        alpha.execute(sa.update(Invoice).where(Invoice.id == invoice.id).values(paid_cents=100))
    with pytest.raises(services.CreditRefused) as refused:
        services.credit_invoice(alpha, ALPHA, alpha.get(Invoice, invoice.id), "Te veel gefactureerd", user_id=None)
    assert refused.value.violations[0].code == "invoice_not_open"


def test_an_issued_credit_note_is_frozen_too(alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    [invoice] = invoices(alpha)
    note = services.credit_invoice(alpha, ALPHA, invoice, "Verkeerde werkgever", user_id=None)
    with pytest.raises(sa.exc.DBAPIError, match="never edited"):
        with alpha.begin_nested():
            alpha.execute(sa.update(Invoice).where(Invoice.id == note.id).values(net_cents=0, vat_cents=0,
                                                                                  gross_cents=0))


def test_the_credit_command(app, alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    alpha.commit()
    cli = app.test_cli_runner()
    result = cli.invoke(args=["invoices", "credit", "alpha", "GM9001-F2026-000001", "--reason", "Dubbel gefactureerd",
                              "--issue-date", "2026-03-12"])
    assert result.exit_code == 0, result.output
    assert "alpha: credit note GM9001-C2026-000001 for GM9001-F2026-000001 (EUR -565.55)" in result.output
    again = cli.invoke(args=["invoices", "credit", "alpha", "GM9001-F2026-000001", "--reason", "Dubbel"])
    assert again.exit_code == 1 and "openstaande" in again.output
    missing = cli.invoke(args=["invoices", "credit", "alpha", "GM9001-F2026-999999", "--reason", "Dubbel"])
    assert missing.exit_code == 1 and "no invoice GM9001-F2026-999999" in missing.output

