"""Reaching a host: SSH connections with pinned host keys, OpenSSH argv for ssh/scp/mount."""
