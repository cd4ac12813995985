"""The application factory."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from nvsi import crypto
from nvsi.config import PROJECT_ROOT, load_config
from nvsi.crypto import PersonalDataCipher
from nvsi.extensions import csrf, db, login_manager
from nvsi.tenancy.routing import Router, enable_sqlite_transactions


def create_app(config: dict | None = None) -> Flask:
    """Build the app. No database query runs here: the database may not even exist yet."""
    instance = os.environ.get("NVSI_INSTANCE_PATH") or (config or {}).get("INSTANCE_PATH")
    app = Flask(
        "nvsi",
        instance_path=str(instance or PROJECT_ROOT / "instance"),
        instance_relative_config=True,
    )
    load_config(app, config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"], x_proto=app.config["PROXY_FIX_X_PROTO"]
        )

    db.init_app(app)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        enable_sqlite_transactions(engine)
        Path(app.config["TENANT_DIR"]).mkdir(parents=True, exist_ok=True)
    app.extensions["nvsi.router"] = Router(engine, Path(app.config["TENANT_DIR"]))
    app.extensions["nvsi.cipher"] = PersonalDataCipher(app.config["DATA_KEY"])
    crypto.configure(app.extensions["nvsi.cipher"])

    login_manager.init_app(app)
    csrf.init_app(app)

    from nvsi import auth, errors, health, i18n, observability, pages
    from nvsi.api import api_bp, openapi
    from nvsi.audit import views as audit_views
    from nvsi.catalogue import views as catalogue_views
    from nvsi.cli import register_cli
    from nvsi.contract import views as contract_views
    from nvsi.decisions import views as decisions_views
    from nvsi.ledger import views as ledger_views
    from nvsi.members import views as members_views
    from nvsi.onboarding import views as onboarding_views
    from nvsi.payments import views as bank_views
    from nvsi.payouts import views as payouts_views
    from nvsi.rules import views as rules_views
    from nvsi.settlement import views as settlement_views
    from nvsi.tenancy import web as tenancy_web
    from tenants import register_public_blueprints, register_tenant_blueprints
    from tenants.users.views import member_users_bp

    auth.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
    observability.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    tenant_pages, tenant_api = tenancy_web.make_blueprints()
    register_tenant_blueprints(tenant_pages, tenant_api)
    app.register_blueprint(tenant_pages)
    app.register_blueprint(tenant_api)
    register_public_blueprints(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(decisions_views.bp)
    app.register_blueprint(decisions_views.api_bp)
    app.register_blueprint(contract_views.bp)
    app.register_blueprint(catalogue_views.bp)
    app.register_blueprint(rules_views.bp)
    app.register_blueprint(ledger_views.bp)
    app.register_blueprint(settlement_views.bp)
    app.register_blueprint(members_views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(onboarding_views.bp)
    app.register_blueprint(bank_views.bp)
    app.register_blueprint(payouts_views.bp)
    app.register_blueprint(member_users_bp)
    openapi.init_app(app)
    register_cli(app)

    @app.teardown_request
    def _end_unit_of_work(_exc):
        # One request, one session: whatever it did not commit is rolled back here.
        db.session.remove()

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        )
        return response

    return app
