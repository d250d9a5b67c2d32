"""machine: create hosts running Docker behind mutual TLS, the successor of docker-machine."""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it, `machine version` prints it
