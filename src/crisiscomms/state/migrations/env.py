"""Alembic's environment for the state's migrations: run by crisiscomms.state.schema on a connection it opened."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
