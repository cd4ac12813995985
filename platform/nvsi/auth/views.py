"""Login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from nvsi.auth import services
from nvsi.errors import problem
from nvsi.extensions import db, limiter, login_manager

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _account_key() -> str:
    return "login:" + services.normalise_email(request.form.get("email", ""))


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"])
def login():
    """Log in with e-mail and password."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("pages.home"))
    email = request.form.get("email", "")
    error = None
    if request.method == "POST":
        user = services.authenticate(db.session, email, request.form.get("password", ""))
        if user is None:
            error = _("E-mailadres of wachtwoord onjuist.")
        else:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("pages.home"))
    status = 401 if error else 200
    return render_template("auth/login.html", email=email, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, with a CSRF token, so a link elsewhere cannot log a user out)."""
    logout_user()
    flash(_("U bent uitgelogd."), "info")
    return redirect(url_for("auth.login"))


def init_app(app):
    app.register_blueprint(bp)
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load(session_id):
        return services.load_user(db.session, session_id)

    @login_manager.unauthorized_handler
    def _unauthorized():
        if request.path.startswith("/api/"):
            return problem(401, "unauthenticated", _("Inloggen is vereist."))
        flash(_("Log in om deze pagina te zien."), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
