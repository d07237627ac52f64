//! EventBridge in the emulator: a bus whose rule sends the deployer's events to an SQS queue,
//! read back as a person's rule target would receive them; and the recorded ECS events of
//! `events/`, pointed at a test world's service.

use deployer::AwsClients;
use serde_json::Value;

use crate::emulator::{ACCOUNT, REGION};
use crate::host::repo_root;

/// A bus, a rule on it matching `source: ecs-deployer`, and the SQS queue the rule targets.
pub struct EventTap {
    /// The bus name.
    pub bus: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl EventTap {
    /// Creates the bus (unless it is `default`), the queue and the rule.
    pub async fn new(clients: &AwsClients, bus: &str) -> EventTap {
        let events = aws_sdk_eventbridge::Client::new(&clients.sdk_config);
        let sqs = aws_sdk_sqs::Client::new(&clients.sdk_config);
        if bus != "default" {
            events
                .create_event_bus()
                .name(bus)
                .send()
                .await
                .expect("CreateEventBus");
        }
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{bus}-tap"))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue URL")
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{bus}-tap");
        events
            .put_rule()
            .name("deployer-events")
            .event_bus_name(bus)
            .event_pattern(serde_json::json!({"source": [deployer::notify::SOURCE]}).to_string())
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule("deployer-events")
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
        EventTap {
            bus: bus.to_owned(),
            queue_url,
            sqs,
        }
    }

    /// Every event delivered since the last call, oldest first, taken off the queue.
    pub async fn received(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            if output.messages().is_empty() {
                return events;
            }
            for message in output.messages() {
                events.push(serde_json::from_str(message.body().unwrap_or("{}")).expect("an event"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    /// The `detail-type` of each event delivered since the last call, with the events.
    pub async fn detail_types(&self) -> (Vec<String>, Vec<Value>) {
        let events = self.received().await;
        let types = events
            .iter()
            .map(|e| e["detail-type"].as_str().unwrap_or_default().to_owned())
            .collect();
        (types, events)
    }
}

/// A recorded ECS event from `events/`, pointed at `cluster/service` and, when it names one,
/// at `deployment_id`.
pub fn recorded_ecs_event(file: &str, cluster: &str, service: &str, deployment_id: &str) -> Value {
    let path = repo_root().join("events").join(file);
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the recorded event")).expect("JSON");
    event["resources"] = serde_json::json!([format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}")]);
    if event["detail"].get("deploymentId").is_some() {
        event["detail"]["deploymentId"] = Value::String(deployment_id.to_owned());
    }
    if event["detail"].get("clusterArn").is_some() {
        event["detail"]["clusterArn"] = Value::String(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"));
    }
    event
}

/// The recorded stop of a task (`events/ecs-task-stopped.json`) pointed at `task_arn` of
/// `cluster`, its `container` having exited `exit_code` (none: it never ran, and the task
/// stopped with `TaskFailedToStart`).
pub fn recorded_task_stop(cluster: &str, task_arn: &str, container: &str, exit_code: Option<i32>) -> Value {
    let path = repo_root().join("events").join("ecs-task-stopped.json");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the recorded event")).expect("JSON");
    event["resources"] = serde_json::json!([task_arn]);
    let detail = &mut event["detail"];
    detail["taskArn"] = Value::String(task_arn.to_owned());
    detail["clusterArn"] = Value::String(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"));
    detail["containers"][0]["taskArn"] = Value::String(task_arn.to_owned());
    detail["containers"][0]["name"] = Value::String(container.to_owned());
    match exit_code {
        Some(code) => detail["containers"][0]["exitCode"] = serde_json::json!(code),
        None => {
            detail["containers"][0]
                .as_object_mut()
                .expect("a container")
                .remove("exitCode");
            detail["stopCode"] = Value::String("TaskFailedToStart".to_owned());
            detail["stoppedReason"] =
                Value::String("CannotPullContainerError: pull image manifest has been retried 5 time(s)".to_owned());
        }
    }
    event
}

/// `event` as ECS would send it at `at`: its `time` and the detail's `updatedAt` or `createdAt`
/// moved there (a recorded event keeps the day it was recorded; the demo's deploys are now).
pub fn happening_at(mut event: Value, at: std::time::SystemTime) -> Value {
    let time = deployer::records::format_time(at);
    event["time"] = Value::String(time.clone());
    for field in ["updatedAt", "createdAt"] {
        if event["detail"].get(field).is_some() {
            event["detail"][field] = Value::String(time.clone());
        }
    }
    event
}

/// The `ECR Image Action` PUSH events AWS sends for the recorded calls: ECR reports every
/// `PutImage` that puts a tag on an image as a push of that tag (a retag included), and the
/// emulator sends none. Oldest first, each with its own id, as EventBridge delivers them.
pub fn pushes_of(calls: &[crate::emulator::Call]) -> Vec<Value> {
    calls
        .iter()
        .filter(|call| call.service == "ecr" && call.operation == "PutImage")
        .enumerate()
        .filter_map(|(n, call)| {
            let body = call.json_body();
            let tag = body["imageTag"].as_str()?;
            let digest = body["imageDigest"].as_str()?;
            let mut event = crate::world::push_event(body["repositoryName"].as_str()?, tag, digest);
            event["id"] = Value::String(format!("retag-{n}-{}", &digest[7..19]));
            event["region"] = Value::String(call.region.clone());
            Some(event)
        })
        .collect()
}
