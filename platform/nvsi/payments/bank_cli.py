"""``nvsi bank import FILE``: read a camt.053 statement of the NVSI account from the command line.

The same as the upload on ``/admin/bank``: stored once ("al ingelezen" the second time, nothing
changes), credits matched to invoices, the rest to the review queue. Output carries counts and
statement ids only, never names or IBANs.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from nvsi.extensions import db
from nvsi.observability import track_job


@click.group("bank")
def bank_group() -> None:
    """Bank statements of the NVSI account."""


@bank_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
@track_job("bank-import")
def import_command(file: Path) -> None:
    """Import the camt.053 statement FILE and match its lines."""
    from nvsi.payments import bank

    if file.stat().st_size > bank.MAX_STATEMENT_BYTES:
        raise click.ClickException(f"{file.name}: larger than {bank.MAX_STATEMENT_BYTES // (1024 * 1024)} MB")
    try:
        result = bank.import_file(db, file.read_bytes(), file.name)
    except bank.StatementRejected as exc:
        raise click.ClickException("\n".join(v.message_nl for v in exc.violations)) from None
    if result.already_imported:
        click.echo(f"{file.name}: al ingelezen (statements {', '.join(map(str, result.statement_ids))}); "
                   "nothing changed")
        return
    m = result.matching
    click.echo(f"{file.name}: {len(result.new_statement_ids)} statements imported"
               + (f", {len(result.known_statement_ids)} al ingelezen" if result.known_statement_ids else "")
               + f"; {m.matched} matched to invoices, {m.stripe_payouts} Stripe payouts, {m.payouts} premium payouts, "
               f"{m.unmatched} to the review queue")
