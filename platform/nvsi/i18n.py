"""Languages: Dutch first, English available. Source strings in the code are Dutch."""

from __future__ import annotations

from flask import current_app, redirect, request
from flask_babel import get_locale
from flask_login import current_user

from nvsi.extensions import babel


def select_locale() -> str:
    """An explicit choice (cookie ``lang``), then the user's preference, then the browser."""
    languages = current_app.config["LANGUAGES"]
    chosen = request.cookies.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale

    @app.post("/taal")
    def set_language():
        """Switch the interface language (a cookie for a year) and go back."""
        lang = request.form.get("lang")
        target = request.form.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        response = redirect(target)
        if lang in current_app.config["LANGUAGES"]:
            response.set_cookie(
                "lang", lang, max_age=365 * 24 * 3600, samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True,
            )
        return response
