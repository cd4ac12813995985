"""Premiums (*premie arbeidsinschakeling*) and travel costs of candidates: approved hours accrue
EUR 2.00 an hour (the rule in force) up to the yearly cap, the excess is flagged for review and
never paid; travel costs are recorded and booked. Both post to the NVSI ledger."""
