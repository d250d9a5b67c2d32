"""The virtualbox driver needs VBoxManage: its contract is checked end to end against the
VBoxManage simulator (testbed/vboxsim.py), whose guests boot with QEMU in a network namespace of
the test's own, in tests/e2e/test_virtualbox.py (create, ls, stop, start, kill, restart, rm, a
failed and a killed create)."""

ELSEWHERE = "tests/e2e/test_virtualbox.py"
