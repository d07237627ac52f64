"""A stand-in for ECS Express Mode services inside the emulator (moto implements none of it).

Shaped from AWS's API reference (CreateExpressGatewayService, DescribeExpressGatewayService,
UpdateExpressGatewayService) and its guide ("Updating an Amazon ECS Express Mode service"):

- an Express service is an ECS service: creating one registers a task definition of family
  `<serviceName>` whose one container (`Main`, an assumption: AWS does not document the name)
  is the primary container, and creates the service in `cluster` (default `default`), so
  DescribeServices, UpdateService's service deployments (devkit/ecs_deployments.py) and the
  deployer's followers see it as any service;
- an update registers the next revision with the primary container as sent and moves the
  service to it (a new service deployment); the update's `primaryContainer` replaces the
  configuration's whole (assumed: a member left out is not kept, so the deployer sends every
  member back), and the answer's `targetConfiguration` names the new task definition;
- DescribeExpressGatewayService answers `activeConfigurations` (the newest only: moto never
  rolls out) and `currentDeployment`.
"""

import json
import time

import moto.ecs.models as ecs_models  # noqa: F401  (the backend the state hangs on)
import moto.ecs.responses as ecs_responses

CONTAINER = "Main"


def _express(backend):
    if not hasattr(backend, "devkit_express"):
        backend.devkit_express = {}  # service ARN -> {"cluster", "name", "configuration", ...}
    return backend.devkit_express


def _error(kind, message):
    return json.dumps({"__type": kind, "message": message}), {"status": 400}


def _register(backend, name, request, container):
    definition = {"name": CONTAINER, "image": container["image"], "essential": True}
    if container.get("containerPort"):
        definition["portMappings"] = [{"containerPort": container["containerPort"]}]
    for key in ("command", "environment", "secrets"):
        if container.get(key):
            definition[key] = container[key]
    return backend.register_task_definition(
        family=name,
        container_definitions=[definition],
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        cpu=request.get("cpu", "256"),
        memory=request.get("memory", "512"),
        execution_role_arn=request.get("executionRoleArn"),
        task_role_arn=request.get("taskRoleArn"),
    )


def _configuration(task_definition, request, container):
    return {
        "serviceRevisionArn": f"{task_definition.arn}#revision",
        "executionRoleArn": request.get("executionRoleArn"),
        "taskDefinitionArn": task_definition.arn,
        "cpu": request.get("cpu", "256"),
        "memory": request.get("memory", "512"),
        "healthCheckPath": request.get("healthCheckPath", "/ping"),
        "primaryContainer": container,
        "createdAt": time.time(),
    }


def _summary(entry):
    return {
        "cluster": entry["cluster"],
        "serviceName": entry["name"],
        "serviceArn": entry["arn"],
        "status": {"statusCode": "ACTIVE"},
        "createdAt": entry["createdAt"],
        "updatedAt": entry["updatedAt"],
    }


def create_express_gateway_service(self):
    request = json.loads(self.body or "{}")
    backend = self.ecs_backend
    name = request.get("serviceName") or "express-service"
    cluster = request.get("cluster", "default").split("/")[-1]
    container = request["primaryContainer"]
    task_definition = _register(backend, name, request, container)
    network = request.get("networkConfiguration") or {}
    service = backend.create_service(
        cluster_str=cluster,
        service_name=name,
        desired_count=1,
        task_definition_str=task_definition.arn,
        launch_type="FARGATE",
        network_configuration={"awsvpcConfiguration": {
            "subnets": network.get("subnets", []),
            "securityGroups": network.get("securityGroups", []),
        }},
    )
    now = time.time()
    entry = {"arn": service.arn, "cluster": cluster, "name": name, "createdAt": now, "updatedAt": now,
             "configuration": _configuration(task_definition, request, container)}
    _express(backend)[service.arn] = entry
    return json.dumps({"service": {**_summary(entry), "activeConfigurations": [entry["configuration"]]}})


def describe_express_gateway_service(self):
    request = json.loads(self.body or "{}")
    entry = _express(self.ecs_backend).get(request.get("serviceArn"))
    if entry is None:
        return _error("ResourceNotFoundException", "The Express service does not exist.")
    deployments = [d for d in getattr(self.ecs_backend, "devkit_deployments", [])
                   if d["serviceArn"] == entry["arn"]]
    service = {**_summary(entry), "activeConfigurations": [entry["configuration"]]}
    if deployments:
        service["currentDeployment"] = deployments[-1]["serviceDeploymentArn"]
    return json.dumps({"service": service})


def update_express_gateway_service(self):
    request = json.loads(self.body or "{}")
    backend = self.ecs_backend
    entry = _express(backend).get(request.get("serviceArn"))
    if entry is None:
        return _error("ResourceNotFoundException", "The Express service does not exist.")
    before = entry["configuration"]
    merged = {key: request.get(key, before.get(key)) for key in
              ("cpu", "memory", "executionRoleArn", "taskRoleArn", "healthCheckPath")}
    container = request.get("primaryContainer") or before["primaryContainer"]
    task_definition = _register(backend, entry["name"], merged, container)
    backend.update_service({"cluster": entry["cluster"], "service": entry["name"],
                            "task_definition": task_definition.arn})
    entry["configuration"] = _configuration(task_definition, merged, container)
    entry["updatedAt"] = time.time()
    return json.dumps({"service": {**_summary(entry), "targetConfiguration": entry["configuration"]}})


for _function in [create_express_gateway_service, describe_express_gateway_service,
                  update_express_gateway_service]:
    setattr(ecs_responses.EC2ContainerServiceResponse, _function.__name__, _function)
