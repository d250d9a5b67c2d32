"""Installing and configuring the Docker engine on a host over one SSH connection."""
