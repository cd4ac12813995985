"""Documents of a placement: the *beschikking* (decision letter) and the *inzetbevestiging*
(deployment confirmation), generated as PDF, stored versioned in the tenant's schema."""
