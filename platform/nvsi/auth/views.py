"""Login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from nvsi.auth import services
from nvsi.auth.throttle import LoginThrottle
from nvsi.errors import problem
from nvsi.extensions import db, login_manager

bp = Blueprint("auth", __name__)


def _throttle() -> LoginThrottle:
    return current_app.extensions["nvsi.login_throttle"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with e-mail and password; attempts are throttled per address and per account."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("pages.home"))
    email = request.form.get("email", "")
    error, status, headers = None, 200, {}
    if request.method == "POST":
        address, account = request.remote_addr or "-", services.normalise_email(email)
        throttle = _throttle()
        if not throttle.allowed(address, account):
            wait = throttle.retry_after(address, account)
            error = _("Te veel inlogpogingen. Probeer het over %(seconds)s seconden opnieuw.", seconds=wait)
            status, headers = 429, {"Retry-After": str(wait)}
        else:
            throttle.attempt(address)
            user = services.authenticate(db.session, email, request.form.get("password", ""))
            if user is None:
                throttle.failure(account)
                error, status = _("E-mailadres of wachtwoord onjuist."), 401
            else:
                db.session.commit()
                login_user(user)
                return redirect(_safe_next(request.args.get("next")) or url_for("pages.home"))
    return render_template("auth/login.html", email=email, error=error), status, headers


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, with a CSRF token, so a link elsewhere cannot log a user out)."""
    logout_user()
    flash(_("U bent uitgelogd."), "info")
    return redirect(url_for("auth.login"))


def init_app(app):
    app.register_blueprint(bp)
    app.extensions["nvsi.login_throttle"] = LoginThrottle(
        app.config["RATELIMIT_STORAGE_URI"],
        app.config["LOGIN_RATE_LIMIT"],
        app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    )
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
