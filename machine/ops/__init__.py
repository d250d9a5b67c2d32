"""The only code that sequences steps: create, provision, regenerate-certs, start/stop, rm.

One module per kind of operation, imported by what needs it: this package imports nothing, so
a command that reads a record does not pay for the code that creates machines.
"""
