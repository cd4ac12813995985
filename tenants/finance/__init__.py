"""A municipality's money in the NVSI ledger: its accounts, transactions and settlement statements."""
