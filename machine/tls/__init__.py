"""TLS: keys and certificates, the store's CA and client pair, and the local check `env` runs."""
