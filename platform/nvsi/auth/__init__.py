"""Users, roles, memberships of tenants, and login."""


def init_app(app):
    """Register the login pages and Flask-Login's user loading."""
    from nvsi.auth import views

    views.init_app(app)
