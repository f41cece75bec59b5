"""Ctrl-C during training is taken between batches (train/interrupt.py), with real signals."""

from __future__ import annotations

import os
import signal

import pytest

from train.interrupt import deferred_interrupt


def test_first_ctrl_c_waits_for_the_next_check_and_the_second_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)  # delivered here, but nothing is raised yet
        assert interrupt.pending
        with pytest.raises(KeyboardInterrupt):
            interrupt.check(3, logs={})  # a batch end: now it stops
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: at once
    assert signal.getsignal(signal.SIGINT) is before


def test_nothing_pending_lets_training_go_on():
    with deferred_interrupt() as interrupt:
        interrupt.check(0, logs={})
        assert not interrupt.pending
