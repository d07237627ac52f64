"""Starts the emulator (moto's server) with one change for large queues.

moto's SQS reads a queue's attributes for every message it adds, and those attributes count
the queue's delayed and hidden messages, each asking the time through a datetime computation:
a fan-out of 1,000 messages then costs seconds per SendMessageBatch (quadratic in the queue's
length), which AWS does not. Here the current time is read from the clock directly; a time
computed for a given datetime is left as moto computes it. Arguments are moto_server's.
"""

import sys
import time

import moto.sqs.models as sqs_models

_datetime_millis = sqs_models.unix_time_millis


def _millis(dt=None):
    return time.time() * 1000.0 if dt is None else _datetime_millis(dt)


sqs_models.unix_time_millis = _millis

from moto.server import main  # noqa: E402  (after the change, as moto's modules read it)

if __name__ == "__main__":
    sys.exit(main())
