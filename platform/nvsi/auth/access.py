"""Role checks for views. A refusal is 403 with a message that says which roles may act.

Tenant pages are already limited to the tenant's members and the backoffice by the tenant
resolution (nvsi.tenancy.web); these checks narrow by role on top of that.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, make_response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from nvsi.auth.models import Role
from nvsi.errors import problem


def has_role(*roles: Role) -> bool:
    """Whether the current user is logged in with one of ``roles``."""
    return current_user.is_authenticated and current_user.role in roles


def refuse(roles: tuple[Role, ...]):
    """Abort with 403, naming the roles that may do this."""
    from nvsi.pages import role_label

    allowed = ", ".join(role_label(r) for r in roles)
    detail = _("Dit mag alleen met de rol: %(roles)s.", roles=allowed)
    if request.path.startswith("/api/"):
        abort(problem(403, "forbidden", detail, allowed_roles=[r.value for r in roles]))
    abort(make_response(render_template("error.html", status=403, title=_("Geen toegang"), detail=detail), 403))


def roles_required(*roles: Role):
    """Decorator: the view needs a logged-in user with one of ``roles``."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                refuse(roles)
            return view(*args, **kwargs)

        return wrapped

    return decorate
