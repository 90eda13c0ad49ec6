"""The live compute network service: a multi-tenant HTTP API that quotes, places, schedules and
runs jobs (see docs/service.md). Import :func:`suanli.service.app.create_app` to build it."""
