"""Text for users: Go templates for --format, tab-aligned tables, `env` for each shell."""
