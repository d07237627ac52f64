"""A stand-in for ECS's service deployments API inside the emulator (moto implements none of it).

Shaped from AWS's API reference (ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment, ContinueServiceDeployment):

- every UpdateService that changes a service's task definition (or forces a new deployment)
  starts a service deployment, IN_PROGRESS, targeting a new service revision (the new task
  definition), with the service's older revision as its source; a deployment still in progress
  is STOPPED by the newer one ("superseded": assumed, AWS's exact reason text is not documented).
  A rolling deployment names no lifecycle stage; one whose service (or UpdateService) has a
  `deploymentConfiguration.strategy` of BLUE_GREEN, LINEAR or CANARY starts at SCALE_UP.
- moto never rolls a deployment out: the tests move it with `DevkitSetServiceDeployment`
  (status, lifecycle stage, hooks, rollback reason; `updatedAt` moves each time), an operation
  of the stand-in's own that the deployer never calls.
- StopServiceDeployment (ROLLBACK: ROLLBACK_IN_PROGRESS and the service back on the source
  revision; ABORT: STOP_REQUESTED) and ContinueServiceDeployment (only for a hook
  AWAITING_ACTION: CONTINUE marks it SUCCEEDED, ROLLBACK rolls back as above).

Everything is answered as JSON with epoch-second timestamps, as the JSON protocol does; state
lives in each (account, region) ECS backend, so `/moto-api/reset` clears it.
"""

import json
import time
import uuid

import moto.ecs.models as ecs_models
import moto.ecs.responses as ecs_responses

ACTIVE = {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
STAGED = {"BLUE_GREEN", "LINEAR", "CANARY"}


def _state(backend):
    if not hasattr(backend, "devkit_deployments"):
        backend.devkit_deployments = []  # newest last
        backend.devkit_revisions = {}
    return backend


def _revision(backend, service, task_definition):
    arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:service-revision/{service.cluster_name}/{service.name}/{uuid.uuid4().hex[:20]}"
    backend.devkit_revisions[arn] = {
        "serviceRevisionArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": task_definition,
        "createdAt": time.time(),
    }
    return arn


def _summary(arn):
    return {"arn": arn, "requestedTaskCount": 1, "runningTaskCount": 0, "pendingTaskCount": 0}


_update_service = ecs_models.EC2ContainerServiceBackend.update_service


def _update_service_with_deployment(self, service_properties):
    _state(self)
    configuration = service_properties.get("deployment_configuration")
    forced = bool(service_properties.get("force_new_deployment"))
    cluster = service_properties.get("cluster", "default")
    name = service_properties.get("service", "").split("/")[-1]
    before = self._get_service(cluster, name).task_definition
    service = _update_service(self, service_properties)
    if configuration:
        service.devkit_configuration = configuration
    if service.task_definition == before and not forced:
        return service
    now = time.time()
    for older in self.devkit_deployments:
        if older["serviceArn"] == service.arn and older["status"] in ACTIVE:
            older.update(status="STOPPED", statusReason="superseded by a newer deployment",
                         stoppedAt=now, updatedAt=now)
    configuration = getattr(service, "devkit_configuration", None) or {}
    source = _revision(self, service, before) if before else None
    deployment = {
        "serviceDeploymentArn": f"arn:aws:ecs:{self.region_name}:{self.account_id}:service-deployment/{service.cluster_name}/{service.name}/{uuid.uuid4().hex[:20]}",
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisions": [_summary(source)] if source else [],
        "targetServiceRevision": _summary(_revision(self, service, service.task_definition)),
        "status": "IN_PROGRESS",
        "deploymentConfiguration": configuration,
        "lifecycleHookDetails": [],
    }
    if configuration.get("strategy") in STAGED:
        deployment["lifecycleStage"] = "SCALE_UP"
    self.devkit_deployments.append(deployment)
    return service


ecs_models.EC2ContainerServiceBackend.update_service = _update_service_with_deployment


def _brief(d):
    keys = ["serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt",
            "finishedAt", "status", "statusReason"]
    brief = {k: d[k] for k in keys if k in d}
    brief["targetServiceRevisionArn"] = d["targetServiceRevision"]["arn"]
    return brief


def _error(kind, message):
    return json.dumps({"__type": kind, "message": message}), {"status": 400}


def _find(backend, arn):
    return next((d for d in _state(backend).devkit_deployments if d["serviceDeploymentArn"] == arn), None)


def _roll_back(backend, deployment, reason):
    now = time.time()
    deployment.update(status="ROLLBACK_IN_PROGRESS", updatedAt=now,
                      rollback={"reason": reason, "startedAt": now})
    sources = deployment.get("sourceServiceRevisions") or []
    if sources:
        revision = backend.devkit_revisions.get(sources[0]["arn"])
        deployment["rollback"]["serviceRevisionArn"] = sources[0]["arn"]
        for service in backend.services.values():
            if service.arn == deployment["serviceArn"] and revision:
                service.task_definition = revision["taskDefinition"]


def list_service_deployments(self):
    request = json.loads(self.body or "{}")
    backend = _state(self.ecs_backend)
    service = request.get("service", "").split("/")[-1]
    cluster = request.get("cluster", "default").split("/")[-1]
    statuses = set(request.get("status") or [])
    created = request.get("createdAt") or {}
    found = [
        _brief(d) for d in reversed(backend.devkit_deployments)
        if d["serviceArn"].endswith(f"/{cluster}/{service}")
        and (not statuses or d["status"] in statuses)
        and d["createdAt"] >= float(created.get("after", 0))
        and d["createdAt"] <= float(created.get("before", 1e12))
    ]
    return json.dumps({"serviceDeployments": found})


def describe_service_deployments(self):
    request = json.loads(self.body or "{}")
    backend = self.ecs_backend
    found, failures = [], []
    for arn in request.get("serviceDeploymentArns", []):
        deployment = _find(backend, arn)
        if deployment:
            found.append(deployment)
        else:
            failures.append({"arn": arn, "reason": "MISSING"})
    return json.dumps({"serviceDeployments": found, "failures": failures})


def describe_service_revisions(self):
    request = json.loads(self.body or "{}")
    revisions = _state(self.ecs_backend).devkit_revisions
    arns = request.get("serviceRevisionArns", [])
    return json.dumps({
        "serviceRevisions": [revisions[a] for a in arns if a in revisions],
        "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in revisions],
    })


def stop_service_deployment(self):
    request = json.loads(self.body or "{}")
    deployment = _find(self.ecs_backend, request.get("serviceDeploymentArn"))
    if deployment is None:
        return _error("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
    if deployment["status"] not in ACTIVE:
        return _error("ConflictException", f"The service deployment is {deployment['status']}.")
    if request.get("stopType", "ROLLBACK") == "ROLLBACK":
        _roll_back(self.ecs_backend, deployment, "StopServiceDeployment")
    else:
        deployment.update(status="STOP_REQUESTED", updatedAt=time.time())
    return json.dumps({"serviceDeploymentArn": deployment["serviceDeploymentArn"]})


def continue_service_deployment(self):
    request = json.loads(self.body or "{}")
    deployment = _find(self.ecs_backend, request.get("serviceDeploymentArn"))
    if deployment is None:
        return _error("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
    hook_id = request.get("hookId")
    waiting = [h for h in deployment["lifecycleHookDetails"] if h.get("status") == "AWAITING_ACTION"
               and (hook_id is None or h.get("hookId") == hook_id)]
    if not waiting:
        return _error("InvalidParameterException", "No lifecycle hook of the service deployment awaits an action.")
    for hook in waiting:
        hook["status"] = "SUCCEEDED"
    if request.get("action") == "ROLLBACK":
        _roll_back(self.ecs_backend, deployment, "ContinueServiceDeployment ROLLBACK")
    deployment["updatedAt"] = time.time()
    return json.dumps({"serviceDeploymentArn": deployment["serviceDeploymentArn"]})


def devkit_set_service_deployment(self):
    """The test kit's control: the newest deployment of `cluster`/`service` (or the one named)
    takes the given fields; `updatedAt` moves unless given."""
    request = json.loads(self.body or "{}")
    backend = _state(self.ecs_backend)
    deployment = _find(backend, request.get("serviceDeploymentArn"))
    if deployment is None:
        suffix = f"/{request.get('cluster', 'default')}/{request.get('service', '')}"
        deployment = next((d for d in reversed(backend.devkit_deployments)
                           if d["serviceArn"].endswith(suffix)), None)
    if deployment is None:
        return _error("ServiceDeploymentNotFoundException", "No service deployment to set.")
    changes = request.get("set", {})
    deployment.update(changes)
    if "updatedAt" not in changes:
        deployment["updatedAt"] = time.time()
    if deployment["status"] not in ACTIVE and "finishedAt" not in deployment:
        deployment["finishedAt"] = deployment["updatedAt"]
    return json.dumps(deployment)


_parse_parameters = ecs_responses.EC2ContainerServiceResponse.parse_parameters


def _parse_parameters_unless_devkit(self, request):
    # The kit's own operation is in no AWS service model; it reads its body itself.
    if not self._get_action().startswith("Devkit"):
        _parse_parameters(self, request)


ecs_responses.EC2ContainerServiceResponse.parse_parameters = _parse_parameters_unless_devkit

for _function in [list_service_deployments, describe_service_deployments, describe_service_revisions,
                  stop_service_deployment, continue_service_deployment, devkit_set_service_deployment]:
    setattr(ecs_responses.EC2ContainerServiceResponse, _function.__name__, _function)
