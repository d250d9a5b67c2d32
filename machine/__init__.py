"""machine: create hosts running Docker behind mutual TLS, the successor of docker-machine."""
