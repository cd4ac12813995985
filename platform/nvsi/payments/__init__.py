"""Money coming in on the NVSI level: Stripe webhook events (deduplicated) and bank statements."""
