"""Login (password, then a two-factor code), enrolment of an authenticator, recovery codes, the
account security page, password reset and the invitation.

A login in two steps: after the right password, a user who has two-factor login (or whose role
requires it) is *not* logged in. The Flask session only remembers, for a few minutes, that the
password step passed (:data:`PENDING`); Flask-Login knows nothing of it, so every page and API
call still answers as to an anonymous visitor. Only the second step (a code, or the enrolment of
an authenticator for a role that requires one) logs in.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from nvsi.auth import invitations, lockout, reset, services, tokens, totp
from nvsi.auth.models import User
from nvsi.auth.throttle import LoginThrottle
from nvsi.db import utcnow
from nvsi.errors import problem
from nvsi.extensions import db, login_manager
from nvsi.rules.violations import as_errors

bp = Blueprint("auth", __name__)

#: Flask-session key of a login whose password step passed and whose second step is pending.
PENDING = "nvsi.auth.pending"
#: Seconds the second step may take.
PENDING_SECONDS = 600
#: Endpoints a user of a role that requires two-factor login reaches before enrolling.
_ENROLMENT_ENDPOINTS = frozenset({
    "static", "auth.login", "auth.logout", "auth.two_factor", "auth.enrol", "auth.enrol_later",
    "auth.forgot_password", "auth.reset_password", "auth.invitation", "set_language",
    "health.healthz", "health.readyz",
})


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


def _locked_message(until) -> str:
    return _("Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen. "
             "Probeer het opnieuw na %(until)s.", until=format_datetime(until, "d MMMM yyyy HH:mm"))


def _retry_after(until) -> str:
    return str(max(1, int((until - utcnow()).total_seconds()) + 1))


# -- the pending second step -------------------------------------------------------------------


def _start_pending(user: User, next_url: str | None, via: str) -> None:
    """Remember that ``user`` passed the password step (``via`` login or invitation)."""
    logout_user()
    session[PENDING] = {"u": user.id, "v": user.auth_version, "exp": int(time.time()) + PENDING_SECONDS,
                        "next": _safe_next(next_url), "via": via}


def _pending_user() -> User | None:
    """The user whose second step is pending in this session, if still valid."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("exp", 0) < time.time():
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, pending.get("u"))
    if user is None or not user.active or user.auth_version != pending.get("v"):
        session.pop(PENDING, None)
        return None
    return user


def _pending_next() -> str:
    return (session.get(PENDING) or {}).get("next") or url_for("pages.home")


def _complete_login(user: User, target: str | None = None) -> str:
    """Both steps passed: log in, reset the failure count; returns where to go next (``target``,
    else where the pending login was headed, else the start page)."""
    target = target or _pending_next()
    lockout.record_success(user)
    user.last_login_at = utcnow()
    session.pop(PENDING, None)
    login_user(user)
    return target


def _after_password(user: User, next_url: str | None):
    """Where the password step leads: straight in, to the code, or to enrolment."""
    if user.two_factor_enabled:
        _start_pending(user, next_url, "login")
        db.session.commit()
        return redirect(url_for("auth.two_factor"))
    if user.role.requires_two_factor:
        _start_pending(user, next_url, "login")
        db.session.commit()
        return redirect(url_for("auth.enrol"))
    target = _complete_login(user, _safe_next(next_url))
    db.session.commit()
    return redirect(target)


# -- login -------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with e-mail and password; attempts are throttled per address and per account, and
    an account is locked after too many failures in a row."""
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
            check = services.check_password(db.session, email, request.form.get("password", ""))
            if check.user is not None:
                return _after_password(check.user, request.args.get("next"))
            db.session.commit()  # the failure count and a lock outlive this refusal
            throttle.failure(account)
            if check.locked_until is not None:
                error, status = _locked_message(check.locked_until), 429
                headers = {"Retry-After": _retry_after(check.locked_until)}
            else:
                error, status = _("E-mailadres of wachtwoord onjuist."), 401
    return render_template("auth/login.html", email=email, error=error), status, headers


@bp.route("/auth/code", methods=["GET", "POST"])
def two_factor():
    """The second step: a code from the authenticator app, or a recovery code."""
    user = _pending_user()
    if user is None or not user.two_factor_enabled:
        flash(_("Log opnieuw in: de inlogpoging is verlopen."), "info")
        return redirect(url_for("auth.login"))
    errors, status, headers = {}, 200, {}
    if request.method == "POST":
        address, account = request.remote_addr or "-", user.email
        throttle = _throttle()
        code = request.form.get("code", "")
        locked = lockout.locked_until(user)
        if locked is not None:  # locked since the password step (by failures elsewhere)
            session.pop(PENDING, None)
            return render_template("auth/login.html", email=user.email, error=_locked_message(locked)), \
                429, {"Retry-After": _retry_after(locked)}
        if not throttle.allowed(address, account):
            wait = throttle.retry_after(address, account)
            errors = {"code": [_("Te veel pogingen. Probeer het over %(seconds)s seconden opnieuw.", seconds=wait)]}
            status, headers = 429, {"Retry-After": str(wait)}
        else:
            throttle.attempt(address)
            kind = totp.verify_second_factor(db.session, user, code)
            if kind is not None:
                target = _complete_login(user)
                db.session.commit()
                if kind == "recovery":
                    left = totp.remaining_recovery_codes(db.session, user)
                    flash(_("U bent ingelogd met een herstelcode. U heeft nog %(count)s herstelcodes; "
                            "maak nieuwe aan op de pagina Beveiliging.", count=left), "info")
                return redirect(target)
            until = lockout.record_failure(db.session, user)
            db.session.commit()
            throttle.failure(account)
            if until is not None:
                session.pop(PENDING, None)
                return render_template("auth/login.html", email=user.email, error=_locked_message(until)), \
                    429, {"Retry-After": _retry_after(until)}
            errors, status = {"code": [_("Deze code is onjuist, verlopen of al gebruikt.")]}, 401
    return render_template("auth/code.html", errors=errors), status, headers


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, with a CSRF token, so a link elsewhere cannot log a user out)."""
    logout_user()
    session.pop(PENDING, None)
    flash(_("U bent uitgelogd."), "info")
    return redirect(url_for("auth.login"))


# -- enrolment ---------------------------------------------------------------------------------


def _enrolling_user() -> tuple[User | None, bool]:
    """Who is enrolling: the pending user (second step of a login or an invitation), or the
    logged-in user; and whether it is the pending one."""
    pending = _pending_user()
    if pending is not None and not pending.two_factor_enabled:
        return pending, True
    if current_user.is_authenticated:
        return current_user._get_current_object(), False
    return None, False


def _enrol_page(user: User, pending: bool, errors: dict, status: int = 200):
    secret = totp.start_enrolment(user)
    db.session.commit()
    uri = totp.provisioning_uri(user, secret)
    return render_template(
        "auth/enrol.html", qr=totp.qr_svg(uri, _("QR-code om te scannen met uw authenticator-app")),
        secret=totp.grouped(secret), errors=errors, pending=pending,
        may_postpone=pending and not user.role.requires_two_factor,
        needs_password=not pending and user.two_factor_enabled,
    ), status


@bp.route("/auth/tweestapsverificatie", methods=["GET", "POST"])
def enrol():
    """Link an authenticator app: scan the QR code (or type the secret), confirm with a code;
    the recovery codes are shown once. For a role that requires two-factor login this is the
    only page reachable after the password until it is done."""
    user, pending = _enrolling_user()
    if user is None:
        return login_manager.unauthorized()
    if request.method == "GET":
        return _enrol_page(user, pending, {})
    errors = {}
    if not pending and user.two_factor_enabled and not services.verify_password(user, request.form.get("password", "")):
        errors["password"] = [_("Het wachtwoord is onjuist.")]
    codes = None if errors else totp.confirm_enrolment(db.session, user, request.form.get("code", ""))
    if codes is None:
        errors.setdefault("code", [_("Deze code klopt niet. Controleer de tijd op uw telefoon en "
                                     "typ de zes cijfers die de app nu toont.")])
        db.session.rollback()
        return _enrol_page(user, pending, errors, 422)
    target = _complete_login(user) if pending else url_for("auth.security")
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes, next_url=target, first=True)


@bp.post("/auth/tweestapsverificatie/later")
def enrol_later():
    """Skip the enrolment for now (only where two-factor login is optional)."""
    user, pending = _enrolling_user()
    if user is None or not pending:
        return redirect(url_for("auth.login"))
    if user.role.requires_two_factor:
        flash(_("Voor uw rol is tweestapsverificatie verplicht."), "error")
        return redirect(url_for("auth.enrol"))
    user.totp_pending_secret = None
    target = _complete_login(user)
    db.session.commit()
    flash(_("U kunt tweestapsverificatie later aanzetten op de pagina Beveiliging."), "info")
    return redirect(target)


# -- the account security page -----------------------------------------------------------------


def _security_page(errors: dict | None = None, status: int = 200):
    user = current_user._get_current_object()
    return render_template(
        "auth/security.html", user=user, errors=errors or {},
        enabled_on=format_datetime(user.totp_enabled_at, "d MMMM yyyy") if user.two_factor_enabled else None,
        remaining=totp.remaining_recovery_codes(db.session, user) if user.two_factor_enabled else 0,
    ), status


@bp.get("/auth/beveiliging")
@login_required
def security():
    """Two-factor login on or off, recovery codes, the password."""
    return _security_page()


@bp.post("/auth/tweestapsverificatie/uitzetten")
@login_required
def disable_two_factor():
    """Switch two-factor login off: needs the password and a code; not for roles that require it."""
    user = current_user._get_current_object()
    if user.role.requires_two_factor:
        return _security_page({"disable_code": [_("Voor uw rol is tweestapsverificatie verplicht; "
                                                  "uitzetten kan niet.")]}, 403)
    errors = {}
    if not services.verify_password(user, request.form.get("password", "")):
        errors["disable_password"] = [_("Het wachtwoord is onjuist.")]
    if not errors and not totp.check_code(db.session, user, request.form.get("code", "")):
        errors["disable_code"] = [_("Deze code is onjuist, verlopen of al gebruikt.")]
    if errors:
        db.session.rollback()
        return _security_page(errors, 422)
    totp.disable(db.session, user)
    db.session.commit()
    flash(_("Tweestapsverificatie staat uit."), "success")
    return redirect(url_for("auth.security"))


@bp.post("/auth/herstelcodes")
@login_required
def regenerate_recovery_codes():
    """A new set of recovery codes (the old set stops working); needs a code from the app."""
    user = current_user._get_current_object()
    if not totp.check_code(db.session, user, request.form.get("code", "")):
        db.session.rollback()
        return _security_page({"recovery_code": [_("Deze code is onjuist, verlopen of al gebruikt.")]}, 422)
    codes = totp.new_recovery_codes(db.session, user)
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes, next_url=url_for("auth.security"), first=False)


# -- password reset ----------------------------------------------------------------------------


@bp.route("/auth/wachtwoord-vergeten", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link. The answer is the same whether or not the address has an account."""
    email, errors = request.form.get("email", "").strip(), {}
    if request.method == "POST":
        address = request.remote_addr or "-"
        throttle = _throttle()
        if not throttle.address_allowed(address):
            wait = throttle.address_retry_after(address)
            errors = {"email": [_("Te veel pogingen. Probeer het over %(seconds)s seconden opnieuw.", seconds=wait)]}
            return render_template("auth/forgot.html", email=email, errors=errors), 429, {"Retry-After": str(wait)}
        if "@" not in email:
            errors = {"email": [_("Vul een geldig e-mailadres in.")]}
            return render_template("auth/forgot.html", email=email, errors=errors), 422
        throttle.attempt(address)
        reset.request_reset(db.session, email)
        db.session.commit()
        return render_template("auth/forgot_sent.html", email=email)
    return render_template("auth/forgot.html", email=email, errors=errors)


def _link_problem(exc: tokens.InvalidToken, kind: str):
    expired = isinstance(exc, tokens.TokenExpired)
    if kind == "reset":
        title = _("Deze link werkt niet meer")
        detail = (_("Deze link om een nieuw wachtwoord te kiezen is verlopen. Vraag een nieuwe aan.") if expired
                  else _("Deze link om een nieuw wachtwoord te kiezen is ongeldig of al gebruikt. "
                         "Vraag zo nodig een nieuwe aan."))
    else:
        title = _("Deze uitnodiging werkt niet meer")
        detail = (_("Deze uitnodiging is verlopen. Vraag de beheerder van uw gemeente (of de NVSI) om een "
                    "nieuwe uitnodiging.") if expired
                  else _("Deze uitnodiging is ongeldig of al gebruikt. Heeft u al een wachtwoord gekozen? "
                         "Log dan in; bent u het vergeten, vraag dan een nieuw wachtwoord aan."))
    return render_template("auth/link_problem.html", title=title, detail=detail, kind=kind), 410 if expired else 404


def _password_form(template: str, user: User, **context):
    """Check a new password typed twice; None when fine, else the page with the errors."""
    password = request.form.get("password", "")
    problems = services.password_violations(password, request.form.get("password_confirmation", ""))
    if problems:
        return render_template(template, user=user, errors=as_errors(problems), **context), 422
    return None


@bp.route("/auth/wachtwoord/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through the link from the mail."""
    try:
        user = reset.open_reset(db.session, token)
    except tokens.InvalidToken as exc:
        return _link_problem(exc, "reset")
    if request.method == "POST":
        refused = _password_form("auth/reset.html", user)
        if refused is not None:
            return refused
        reset.complete_reset(db.session, user, request.form["password"])
        db.session.commit()
        logout_user()
        session.pop(PENDING, None)
        flash(_("Uw nieuwe wachtwoord is opgeslagen. Log in met uw nieuwe wachtwoord."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", user=user, errors={})


# -- invitation --------------------------------------------------------------------------------


@bp.route("/auth/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """Accept an invitation: choose a password, then link an authenticator app (required for
    NVSI administrators and the backoffice, offered to the others), see the recovery codes, and
    end logged in."""
    try:
        user = invitations.open_invitation(db.session, token)
    except tokens.InvalidToken as exc:
        return _link_problem(exc, "invitation")
    if request.method == "POST":
        refused = _password_form("auth/invitation.html", user)
        if refused is not None:
            return refused
        invitations.accept(db.session, user, request.form["password"])
        db.session.commit()
        _start_pending(user, None, "invitation")
        return redirect(url_for("auth.enrol"))
    return render_template("auth/invitation.html", user=user, errors={})


# -- wiring ------------------------------------------------------------------------------------


def _require_enrolment():
    """A logged-in user of a role that requires two-factor login but without it (a session from
    before the requirement, or the requirement came with a new role) goes back to the second
    step: nothing else answers until an authenticator is linked."""
    if request.endpoint in _ENROLMENT_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated or not current_user.role.requires_two_factor \
            or current_user.two_factor_enabled:
        return None
    _start_pending(current_user._get_current_object(), request.full_path.rstrip("?")
                   if request.method == "GET" else None, "login")
    if request.path.startswith("/api/"):
        return problem(401, "two_factor_required",
                       _("Stel eerst tweestapsverificatie in: log in via de website."))
    return redirect(url_for("auth.enrol"))


def init_app(app):
    app.register_blueprint(bp)
    app.extensions["nvsi.login_throttle"] = LoginThrottle(
        app.config["RATELIMIT_STORAGE_URI"],
        app.config["LOGIN_RATE_LIMIT"],
        app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    )
    login_manager.session_protection = "strong"
    app.before_request(_require_enrolment)

    @login_manager.user_loader
    def _load(session_id):
        return services.load_user(db.session, session_id)

    @login_manager.unauthorized_handler
    def _unauthorized():
        if request.path.startswith("/api/"):
            return problem(401, "unauthenticated", _("Inloggen is vereist."))
        flash(_("Log in om deze pagina te zien."), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
