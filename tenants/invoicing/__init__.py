"""Invoicing employers: collective invoices per employer per period, credit notes, number series."""
