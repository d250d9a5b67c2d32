"""The test bed: real hosts for tests, benchmarks and the quickstart, each in its own namespace.

- `hosts`: Debian test hosts with sshd (and dockerd) in systemd-nspawn containers, each in a
  network namespace reached over a veth pair; root file systems built once with mmdebstrap.
- `libvirt`: a libvirtd of the tests' own, in its own mount and network namespace.
- `instances`: test hosts standing in for EC2 instances (moto's simulated cloud).
- `images`: machine-os (and test recipes) built once into a shared image cache.

Everything here is started and stopped by PID and touches only what it made; traffic only goes
to 127.0.0.0/8 and these hosts' addresses.
"""
