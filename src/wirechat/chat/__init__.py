"""The chat application: tables, schemas, auth, domain errors, services and routers."""

__all__: list[str] = []
