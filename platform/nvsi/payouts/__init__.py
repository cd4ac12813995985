"""Premium payouts: SEPA credit-transfer batches (pain.001) from the NVSI account to candidates,
one per payment moment of the shared rule set (see ``docs/premium-payouts.md``)."""
