"""Flask extensions, created here and attached in the app factory with ``init_app``."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from nvsi.db import SharedBase
from nvsi.tenancy.routing import RoutingSession

#: The database. Its session routes each unit of work to the shared level or one tenant.
db = SQLAlchemy(model_class=SharedBase, session_options={"class_": RoutingSession})
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
