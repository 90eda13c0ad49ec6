"""The web dashboard: static files plus :data:`suanli.service.web.routes.router`."""
