"""Starts the emulator (moto's server), or with `--zygote` forks one for each line it reads (see
`zygote`), with five changes: large queues, service-made interfaces
(each with a private DNS name, which moto's RunTask reads),
stand-ins for ECS's service deployments API and Express Mode services, and CloudWatch over CBOR.

moto's SQS reads a queue's attributes for every message it adds, and those attributes count
the queue's delayed and hidden messages, each asking the time through a datetime computation:
a fan-out of 1,000 messages then costs seconds per SendMessageBatch (quadratic in the queue's
length), which AWS does not. Here the current time is read from the clock directly; a time
computed for a given datetime is left as moto computes it. Arguments are moto_server's.
"""

import os
import signal
import sys
import time
import traceback

import moto.sqs.models as sqs_models

_datetime_millis = sqs_models.unix_time_millis


def _millis(dt=None):
    return time.time() * 1000.0 if dt is None else _datetime_millis(dt)


sqs_models.unix_time_millis = _millis

# A network interface made with the tag `devkit:requester-id` is answered as one an AWS service
# made for itself (`RequesterManaged` true, `RequesterId` the tag's value, the tag not kept), as
# Elastic Load Balancing's interfaces for an ALB are: moto answers every interface as the
# caller's own and offers no way to make one otherwise. The test kit plays ELB with it.
import moto.ec2.models.elastic_network_interfaces as eni_models  # noqa: E402

REQUESTER_TAG = "devkit:requester-id"
_eni_init = eni_models.NetworkInterface.__init__


def _eni_init_as_requester(self, *args, tags=None, **kwargs):
    tags = dict(tags or {})
    requester = tags.pop(REQUESTER_TAG, None)
    _eni_init(self, *args, tags=tags, **kwargs)
    if requester:
        self.requester_managed = True
        self.requester_id = requester
    # moto names an interface's private DNS only in a VPC with DNS hostnames on, and its ECS
    # RunTask then fails reading the name; AWS gives every interface one.
    if not hasattr(self, "private_dns_name"):
        self.private_dns_name = eni_models.generate_dns_from_ip(self.private_ip_address)


eni_models.NetworkInterface.__init__ = _eni_init_as_requester

# ECS's service deployments API, which moto lacks: devkit/ecs_deployments.py.
import ecs_deployments  # noqa: E402,F401

# ECS Express Mode services, which moto lacks: devkit/ecs_express.py.
import ecs_express  # noqa: E402,F401

# CloudWatch over the CBOR protocol the Rust SDK speaks: devkit/cloudwatch_cbor.py.
import cloudwatch_cbor  # noqa: E402,F401

from moto.server import main  # noqa: E402  (after the change, as moto's modules read it)

# The services the tests call: loaded once in the zygote, so that no forked server loads them again.
PRELOADED = ["apigatewayv2", "cloudwatch", "ec2", "ecr", "ecs", "elbv2", "events", "s3", "scheduler",
             "servicediscovery", "sqs", "sts"]


def _preload():
    import importlib

    from moto.backends import get_backend

    for service in PRELOADED:
        get_backend(service)
        importlib.import_module(f"moto.{service}.urls")


def _serve(port, recording, log):
    """A forked server: its own recording and log, then moto's server on `port`; never returns."""
    import random

    from moto.moto_api import recorder
    from moto.moto_api._internal import mock_random

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    random.seed()  # each server its own ids, not the zygote's sequence
    mock_random.seed()
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
        os.environ["MOTO_RECORDER_FILEPATH"] = recording
        recorder._location = recording  # read from the variable when moto was imported
        main(["-H", "127.0.0.1", "-p", port])
        code = 0
    except BaseException:  # noqa: B036  (a port already taken ends here: the test kit tries another)
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def zygote():
    """Imports moto, the changes above and the services the tests call once (about 2 s of CPU a
    server otherwise), then forks a server for each line `PORT<TAB>RECORDING<TAB>LOG` read on
    stdin, answering the server's process id on a line. The kernel reaps the servers that end.
    When stdin closes (the test process ended, however it ended), every server it forked is
    stopped."""
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    forked = []
    for line in sys.stdin:
        port, recording, log = line.rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:
            _serve(port, recording, log)
        forked.append(pid)
        print(pid, flush=True)
    for pid in forked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    else:
        sys.exit(main())
