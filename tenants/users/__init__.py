"""The municipality's users: invite, deactivate, reactivate (accounts live in the shared schema)."""
