"""The local stack: project discovery, Prefect server and worker, the gateway, the CLI."""
