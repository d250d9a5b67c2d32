"""The command line: parse, call ops, render, exit code."""
