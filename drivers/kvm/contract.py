"""The kvm driver needs a running libvirtd: its contract is checked end to end, with the tests'
own libvirtd and QEMU, in tests/e2e/test_kvm.py (create, ls, stop, start, rm)."""

ELSEWHERE = "tests/e2e/test_kvm.py"
