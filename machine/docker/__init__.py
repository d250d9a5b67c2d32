"""The Docker engine: its daemon configuration as data, and its API over mutual TLS."""
