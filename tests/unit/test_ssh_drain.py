"""Reading a remote command's output: up to the channel's EOF, not up to its exit status
(sshd sends the status when the command exits; output still in its pipe can come after)."""

from __future__ import annotations

from machine.remote.ssh import _drain


class LateOutput:
    """A channel whose exit status is there before its output, as on a busy host."""

    def __init__(self, chunks: list[bytes], polls_before_data: int) -> None:
        self.chunks = chunks
        self.polls = 0
        self.wait = polls_before_data
        self.closed = False

    @property
    def eof_received(self) -> bool:
        return self.polls > self.wait and not self.chunks

    def exit_status_ready(self) -> bool:
        return True

    def recv_ready(self) -> bool:
        self.polls += 1
        return self.polls > self.wait and bool(self.chunks)

    def recv(self, size: int) -> bytes:
        return self.chunks.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    def recv_stderr(self, size: int) -> bytes:
        raise AssertionError("no stderr here")


def test_output_after_the_exit_status_is_kept() -> None:
    chan = LateOutput([b"@@uid\n1000\n", b"@@sudo\n/usr/bin/sudo\n@@end\n"], polls_before_data=5)
    out, err = _drain(chan, timeout=10)
    assert out == b"@@uid\n1000\n@@sudo\n/usr/bin/sudo\n@@end\n"
    assert err == b""
