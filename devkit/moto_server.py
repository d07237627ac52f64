"""Starts the emulator (moto's server) with five changes: large queues, service-made interfaces
(each with a private DNS name, which moto's RunTask reads),
stand-ins for ECS's service deployments API and Express Mode services, and CloudWatch over CBOR.

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

if __name__ == "__main__":
    sys.exit(main())
