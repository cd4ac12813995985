"""Self-onboarding of municipalities: sign-up, e-mail verification, approval by the NVSI and the
provisioning of the new member's tenant in the background (docs/onboarding.md)."""
