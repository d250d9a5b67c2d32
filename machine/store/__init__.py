"""The on-disk store: machine records (docker-machine's layout and config.json), their locks,
create journals, migrations of old records, atomic writes and every file name."""
