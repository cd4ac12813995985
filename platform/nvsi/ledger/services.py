"""Posting to the ledger and reading balances from it.

Every money movement of the platform goes through :func:`post` (or :func:`post_many` for a batch
job): entries first, then the header, which the database checks (see :mod:`nvsi.ledger.models`).
Python checks the same rules first, so a caller gets a clear error rather than a trigger's.
Amounts are integer cents: debit positive, credit negative.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.db import ObjectNotFound, savepoint
from nvsi.ledger.chart import CHART, account_key
from nvsi.ledger.models import ClosedPeriod, LedgerAccount, LedgerEntry, LedgerTransaction
from nvsi.observability import record_ledger_postings


class LedgerError(ValueError):
    """A posting that breaks a rule of double-entry bookkeeping (a programming error)."""


class PeriodClosed(LedgerError):
    """The booking date falls in a settled period of the municipality."""

    def __init__(self, tenant_id: int, day: dt.date, period: ClosedPeriod):
        super().__init__(
            f"{day} falls in the settled period {period.period_start}–{period.period_end} of tenant {tenant_id}"
        )
        self.tenant_id, self.day, self.period = tenant_id, day, period


class IdempotencyKeyReused(LedgerError):
    """The key was used before for different entries: a caller bug, never silently accepted."""


class TransactionNotFound(ObjectNotFound):
    """No ledger transaction with that id."""


@dataclass(frozen=True)
class Line:
    """One entry to post: ``cents`` on account ``code`` (debit > 0 > credit).

    ``tenant_id`` names the municipality of a per-tenant account; it defaults to the
    transaction's municipality.
    """

    code: str
    cents: int
    tenant_id: int | None = None


@dataclass
class Posting:
    """A transaction to post: what :func:`post_many` takes."""

    key: str
    booking_date: dt.date
    lines: Sequence[Line]
    tenant_id: int | None
    kind: str
    description: str
    source: tuple[str, str] | None = None
    reverses_id: uuid.UUID | None = None
    user_id: int | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


# -- accounts -------------------------------------------------------------------------------------


def account_ids(session: Session, wanted: Iterable[tuple[str, int | None]]) -> dict[str, int]:
    """The ids of the accounts ``(code, tenant_id)`` by key, creating the missing ones.

    Accounts are rows so entries can reference them; they are made on first use, and a
    concurrent creator's row is taken (unique key) rather than failing.
    """
    cache: dict[str, int] = session.info.setdefault("nvsi.ledger.accounts", {})
    keys = {account_key(code, tenant): (code, tenant) for code, tenant in wanted}
    missing = [k for k in keys if k not in cache]
    if missing:
        for key, id_ in session.execute(
            sa.select(LedgerAccount.key, LedgerAccount.id).where(LedgerAccount.key.in_(missing))
        ):
            cache[key] = id_
        for key in (k for k in missing if k not in cache):
            code, tenant = keys[key]
            try:
                with savepoint(session):
                    session.execute(sa.insert(LedgerAccount).values(key=key, code=code, tenant_id=tenant))
            except sa.exc.IntegrityError:
                pass  # made by a concurrent transaction just now
            cache[key] = session.execute(sa.select(LedgerAccount.id).where(LedgerAccount.key == key)).scalar_one()
    return {k: cache[k] for k in keys}


# -- checks ---------------------------------------------------------------------------------------


def _resolved(posting: Posting) -> list[tuple[str, int]]:
    """(account key, cents) per line, after the checks a bookkeeper would make."""
    if len(posting.lines) < 2:
        raise LedgerError(f"{posting.key}: a transaction needs two or more entries")
    out = []
    for line in posting.lines:
        if line.code not in CHART:
            raise LedgerError(f"{posting.key}: unknown account {line.code}")
        if not isinstance(line.cents, int) or isinstance(line.cents, bool):
            raise LedgerError(f"{posting.key}: amounts are integer cents, not {type(line.cents).__name__}")
        if line.cents == 0:
            raise LedgerError(f"{posting.key}: an entry of zero on {line.code}")
        tenant = line.tenant_id if line.tenant_id is not None else posting.tenant_id
        out.append((account_key(line.code, tenant if CHART[line.code].per_tenant else None), line.cents))
    total = sum(c for _, c in out)
    if total != 0:
        raise LedgerError(f"{posting.key}: entries sum to {total} cents, not zero")
    return out


def closed_period_on(session: Session, tenant_id: int | None, day: dt.date) -> ClosedPeriod | None:
    """The settled period of ``tenant_id`` that contains ``day``, if any."""
    if tenant_id is None:
        return None
    return session.scalars(
        sa.select(ClosedPeriod).where(
            ClosedPeriod.tenant_id == tenant_id, ClosedPeriod.period_start <= day, ClosedPeriod.period_end >= day
        )
    ).first()


# -- locks ----------------------------------------------------------------------------------------

#: The first key of the ledger's PostgreSQL advisory locks (the second is the tenant id).
_LOCK_CLASS = 0x4E56  # "NV"


def _lock(session: Session, tenant_ids: Iterable[int], *, exclusive: bool) -> None:
    """PostgreSQL advisory locks per municipality, held until the transaction ends.

    Every posting takes its municipality's lock *shared*; closing a period (the settlement) takes
    it *exclusive* before it reads the figures. So a settlement waits for postings in flight and
    postings wait for the settlement, after which their own check sees the closed period: no
    posting slips into a half year between the settlement's reading and its commit. SQLite
    serialises writers anyway.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for tenant_id in sorted(set(tenant_ids)):  # a fixed order: no deadlock between batches
        session.execute(sa.text(f"SELECT {function}(:c, :t)"), {"c": _LOCK_CLASS, "t": int(tenant_id)})


def lock_for_closing(session: Session, tenant_id: int) -> None:
    """Wait until no posting of ``tenant_id`` is in flight and keep new ones out until the
    transaction ends (call before reading the figures of a period to close)."""
    _lock(session, [tenant_id], exclusive=True)


# -- posting --------------------------------------------------------------------------------------


def get_by_key(session: Session, key: str) -> LedgerTransaction | None:
    """The transaction posted with idempotency key ``key``, if any."""
    return session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)).first()


def _signature(lines: Iterable[tuple[str, int]]) -> Counter:
    return Counter(lines)


def _existing_signature(session: Session, transaction_id: uuid.UUID) -> Counter:
    rows = session.execute(
        sa.select(LedgerAccount.key, LedgerEntry.amount_cents)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id == transaction_id)
    )
    return Counter((k, c) for k, c in rows)


def post_many(session: Session, postings: Sequence[Posting]) -> list[LedgerTransaction]:
    """Post ``postings`` set-based (one INSERT of all entries, one of all headers).

    Idempotent per posting: a key posted before returns the earlier transaction (if its entries
    are the same; otherwise :class:`IdempotencyKeyReused`). Returns the transactions in order.
    """
    if not postings:
        return []
    resolved = [_resolved(p) for p in postings]
    keys = [p.key for p in postings]
    if len(set(keys)) != len(keys):
        raise LedgerError("the same idempotency key twice in one batch")
    existing = {
        t.idempotency_key: t
        for t in session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.idempotency_key.in_(keys)))
    }
    for posting, lines in zip(postings, resolved, strict=True):
        earlier = existing.get(posting.key)
        if earlier is not None and _existing_signature(session, earlier.id) != _signature(lines):
            raise IdempotencyKeyReused(f"idempotency key {posting.key!r} was used for other entries")
    fresh = [(p, lines) for p, lines in zip(postings, resolved, strict=True) if p.key not in existing]
    tenants = {p.tenant_id for p, _ in fresh if p.tenant_id is not None}
    _lock(session, tenants, exclusive=False)
    if tenants:  # one query for the whole batch
        periods = session.scalars(sa.select(ClosedPeriod).where(ClosedPeriod.tenant_id.in_(tenants))).all()
        for posting, _ in fresh:
            for period in periods:
                if period.tenant_id == posting.tenant_id and \
                        period.period_start <= posting.booking_date <= period.period_end:
                    raise PeriodClosed(posting.tenant_id, posting.booking_date, period)
    if fresh:
        ids = account_ids(
            session,
            {(line.code, (line.tenant_id if line.tenant_id is not None else p.tenant_id)
              if CHART[line.code].per_tenant else None) for p, _ in fresh for line in p.lines},
        )
        entries = [
            {"transaction_id": p.id, "account_id": ids[key], "amount_cents": cents, "booking_date": p.booking_date}
            for p, lines in fresh for key, cents in lines
        ]
        headers = [
            {
                "id": p.id, "idempotency_key": p.key, "booking_date": p.booking_date, "tenant_id": p.tenant_id,
                "kind": p.kind, "description": p.description[:300],
                "source_type": p.source[0] if p.source else None, "source_id": p.source[1] if p.source else None,
                "reverses_id": p.reverses_id, "posted_by_user_id": p.user_id,
            }
            for p, _ in fresh
        ]

        try:
            with savepoint(session):
                session.execute(sa.insert(LedgerEntry), entries)
                session.execute(sa.insert(LedgerTransaction), headers)
        except sa.exc.IntegrityError:
            # A concurrent poster may have committed one of these keys first: then take its
            # result. Any other refusal (a database rule) is re-raised as it is.
            taken = session.scalars(
                sa.select(LedgerTransaction.idempotency_key).where(LedgerTransaction.idempotency_key.in_(keys))
            ).all()
            if not taken:
                raise
            return [post_many(session, [p])[0] for p in postings]
        session.info["nvsi.ledger.pending"] = session.info.get("nvsi.ledger.pending", 0) + len(fresh)
    by_key = {
        t.idempotency_key: t
        for t in session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.idempotency_key.in_(keys)))
    }
    return [by_key[k] for k in keys]


@sa.event.listens_for(Session, "after_commit")
def _count_committed(session) -> None:
    # The metric counts what is committed, not what a rolled-back attempt wrote.
    pending = session.info.pop("nvsi.ledger.pending", 0)
    if pending:
        record_ledger_postings(pending)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop("nvsi.ledger.pending", None)


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget_accounts(session, _previous_transaction) -> None:
    # A rolled-back savepoint may have taken new accounts with it: look them up again.
    session.info.pop("nvsi.ledger.accounts", None)


def post(
    session: Session,
    *,
    key: str,
    booking_date: dt.date,
    lines: Sequence[Line],
    tenant_id: int | None,
    kind: str,
    description: str,
    source: tuple[str, str] | None = None,
    user_id: int | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction; a retry with the same ``key`` returns the first result."""
    return post_many(session, [Posting(key, booking_date, lines, tenant_id, kind, description, source,
                                       user_id=user_id)])[0]


def get_transaction(session: Session, transaction_id: uuid.UUID) -> LedgerTransaction:
    """A transaction by id (404 if unknown)."""
    txn = session.get(LedgerTransaction, transaction_id)
    if txn is None:
        raise TransactionNotFound(str(transaction_id))
    return txn


def reverse(
    session: Session,
    transaction: LedgerTransaction,
    *,
    booking_date: dt.date,
    description: str,
    key: str | None = None,
    user_id: int | None = None,
) -> LedgerTransaction:
    """Post the mirror image of ``transaction`` (the only way to correct the ledger).

    A transaction is reversed at most once (a unique key in the database); asking again returns
    the reversal made before.
    """
    if transaction.reverses_id is not None:
        raise LedgerError("a reversal is not reversed; post the correction instead")
    earlier = session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.reverses_id == transaction.id)).first()
    if earlier is not None:
        return earlier
    lines = [
        Line(e.account.code, -e.amount_cents, e.account.tenant_id)
        for e in session.scalars(sa.select(LedgerEntry).where(LedgerEntry.transaction_id == transaction.id))
    ]
    posting = Posting(
        key or f"reversal:{transaction.id}", booking_date, lines, transaction.tenant_id, "reversal",
        description, (transaction.source_type, transaction.source_id) if transaction.source_type else None,
        reverses_id=transaction.id, user_id=user_id,
    )
    return post_many(session, [posting])[0]


# -- periods --------------------------------------------------------------------------------------


def close_period(session: Session, tenant_id: int, start: dt.date, end: dt.date, reason: str,
                 user_id: int | None = None) -> ClosedPeriod:
    """Close ``start``–``end`` for ``tenant_id``: from now on the database refuses bookings in it."""
    lock_for_closing(session, tenant_id)
    existing = session.scalars(
        sa.select(ClosedPeriod).where(ClosedPeriod.tenant_id == tenant_id, ClosedPeriod.period_start == start)
    ).first()
    if existing is not None:
        return existing
    period = ClosedPeriod(tenant_id=tenant_id, period_start=start, period_end=end, reason=reason,
                          closed_by_user_id=user_id)
    with savepoint(session):
        session.add(period)
    return period


def closed_periods(session: Session, tenant_id: int | None = None) -> list[ClosedPeriod]:
    """Closed periods, newest first (of one municipality, or all)."""
    query = sa.select(ClosedPeriod).order_by(ClosedPeriod.period_start.desc())
    if tenant_id is not None:
        query = query.where(ClosedPeriod.tenant_id == tenant_id)
    return list(session.scalars(query))


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """The balance of one account (debit − credit, in cents)."""

    code: str
    tenant_id: int | None
    cents: int

    @property
    def name(self):
        return CHART[self.code].name

    @property
    def kind(self):
        return CHART[self.code].kind

    @property
    def debit(self) -> int:
        return self.cents if self.cents > 0 else 0

    @property
    def credit(self) -> int:
        return -self.cents if self.cents < 0 else 0


def balances(
    session: Session,
    *,
    as_of: dt.date | None = None,
    since: dt.date | None = None,
    tenant_id: int | None = None,
    nvsi_only: bool = False,
    codes: Iterable[str] | None = None,
    exclude_kinds: Iterable[str] = (),
) -> list[Balance]:
    """Account balances on ``as_of`` (inclusive; all dates when None), optionally only movements
    ``since`` a date; of one municipality's accounts (``tenant_id``), the NVSI's own
    (``nvsi_only``) or all; leaving out transactions of ``exclude_kinds`` (e.g. ``settlement``,
    whose closing entries empty the result accounts). Zero balances are left out."""
    query = (
        sa.select(LedgerAccount.code, LedgerAccount.tenant_id, sa.func.sum(LedgerEntry.amount_cents))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .group_by(LedgerAccount.code, LedgerAccount.tenant_id)
        .order_by(LedgerAccount.code, LedgerAccount.tenant_id)
    )
    if as_of is not None:
        query = query.where(LedgerEntry.booking_date <= as_of)
    if since is not None:
        query = query.where(LedgerEntry.booking_date >= since)
    if tenant_id is not None:
        query = query.where(LedgerAccount.tenant_id == tenant_id)
    elif nvsi_only:
        query = query.where(LedgerAccount.tenant_id.is_(None))
    if codes is not None:
        query = query.where(LedgerAccount.code.in_(list(codes)))
    exclude_kinds = list(exclude_kinds)
    if exclude_kinds:
        query = query.join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id).where(
            LedgerTransaction.kind.not_in(exclude_kinds))
    return [Balance(code, tenant, int(total)) for code, tenant, total in session.execute(query) if total]


def balance(session: Session, code: str, tenant_id: int | None = None, *, as_of: dt.date | None = None,
            since: dt.date | None = None) -> int:
    """The balance in cents of one account (0 if never used)."""
    tenant = tenant_id if CHART[code].per_tenant else None
    found = [b for b in balances(session, as_of=as_of, since=since, codes=[code], tenant_id=tenant,
                                 nvsi_only=tenant is None)]
    return found[0].cents if found else 0


def balance_movements(session: Session, code: str, tenant_id: int | None, start: dt.date, end: dt.date,
                      exclude_kinds: Iterable[str] = ()) -> int:
    """What moved on one account from ``start`` to ``end`` (inclusive), in cents."""
    tenant = tenant_id if CHART[code].per_tenant else None
    found = balances(session, since=start, as_of=end, codes=[code], tenant_id=tenant, nvsi_only=tenant is None,
                     exclude_kinds=exclude_kinds)
    return found[0].cents if found else 0


@dataclass(frozen=True)
class TrialBalance:
    """Every account's balance on a date; ``total`` is zero in a sound ledger."""

    as_of: dt.date | None
    rows: list[Balance]

    @property
    def total_debit(self) -> int:
        return sum(b.debit for b in self.rows)

    @property
    def total_credit(self) -> int:
        return sum(b.credit for b in self.rows)

    @property
    def total(self) -> int:
        return self.total_debit - self.total_credit


def trial_balance(session: Session, as_of: dt.date | None = None, tenant_id: int | None = None) -> TrialBalance:
    """The trial balance on ``as_of`` (of everything, or of one municipality's accounts; the
    latter need not sum to zero, since the NVSI's own accounts hold the other side)."""
    return TrialBalance(as_of, balances(session, as_of=as_of, tenant_id=tenant_id))


def transactions(
    session: Session,
    *,
    tenant_id: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[LedgerTransaction]:
    """Transactions newest first, filtered by municipality, dates and account code."""
    query = sa.select(LedgerTransaction).order_by(LedgerTransaction.booking_date.desc(),
                                                  LedgerTransaction.posted_at.desc())
    if tenant_id is not None:
        query = query.where(LedgerTransaction.tenant_id == tenant_id)
    if start is not None:
        query = query.where(LedgerTransaction.booking_date >= start)
    if end is not None:
        query = query.where(LedgerTransaction.booking_date <= end)
    if code is not None:
        query = query.where(
            LedgerTransaction.id.in_(
                sa.select(LedgerEntry.transaction_id)
                .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                .where(LedgerAccount.code == code)
            )
        )
    return list(session.scalars(query.limit(limit).offset(offset)))


def entries_by_transaction(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[LedgerEntry]]:
    """The entries of several transactions in one query."""
    out: dict[uuid.UUID, list[LedgerEntry]] = defaultdict(list)
    if ids:
        for entry in session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.transaction_id.in_(list(ids))).order_by(LedgerEntry.id)
        ):
            out[entry.transaction_id].append(entry)
    return out
