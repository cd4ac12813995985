"""Money received for invoices (online via Stripe, by bank transfer) and dunning."""
