//! Scheduled tasks: the ECS targets of EventBridge rules (`ListTargetsByRule`, `PutTargets`)
//! and of EventBridge Scheduler schedules (`GetSchedule`, `UpdateSchedule`), read and pointed at
//! another task definition revision with everything else kept as it is.

use std::fmt;
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::operation::update_schedule::builders::UpdateScheduleInputBuilder;

use super::AwsError;

/// One scheduled task an application names: where its ECS target is kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScheduleRef {
    /// An EventBridge rule on an event bus (`default` for a bare name).
    Rule {
        /// The rule's event bus.
        bus: String,
        /// The rule's name.
        name: String,
    },
    /// An EventBridge Scheduler schedule in a schedule group.
    Schedule {
        /// The schedule's group (`default` unless named).
        group: String,
        /// The schedule's name.
        name: String,
    },
}

impl ScheduleRef {
    /// The bus or group, and the name.
    pub fn parts(&self) -> (&str, &str) {
        match self {
            ScheduleRef::Rule { bus, name } => (bus, name),
            ScheduleRef::Schedule { group, name } => (group, name),
        }
    }

    /// Its ARN in `account` and `region` (a rule on the default bus has no bus in its ARN).
    pub fn arn(&self, partition: &str, region: &str, account: &str) -> String {
        match self {
            ScheduleRef::Rule { bus, name } if bus == "default" => {
                format!("arn:{partition}:events:{region}:{account}:rule/{name}")
            }
            ScheduleRef::Rule { bus, name } => format!("arn:{partition}:events:{region}:{account}:rule/{bus}/{name}"),
            ScheduleRef::Schedule { group, name } => {
                format!("arn:{partition}:scheduler:{region}:{account}:schedule/{group}/{name}")
            }
        }
    }
}

/// Written as the configuration does, always with the bus or group (`rule/default/nightly`).
impl fmt::Display for ScheduleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleRef::Rule { bus, name } => write!(f, "rule/{bus}/{name}"),
            ScheduleRef::Schedule { group, name } => write!(f, "schedule/{group}/{name}"),
        }
    }
}

/// The clients of scheduled tasks in one account and region.
#[derive(Debug, Clone)]
pub struct Schedulers {
    /// EventBridge: rules and their targets.
    pub rules: aws_sdk_eventbridge::Client,
    /// EventBridge Scheduler: schedules.
    pub schedules: aws_sdk_scheduler::Client,
}

impl Schedulers {
    /// Both clients from one configuration (the service's account and region).
    pub fn new(config: &SdkConfig) -> Schedulers {
        Schedulers {
            rules: aws_sdk_eventbridge::Client::new(config),
            schedules: aws_sdk_scheduler::Client::new(config),
        }
    }
}

/// One ECS target of a scheduled task, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledTarget {
    /// The rule or schedule that holds it.
    pub schedule: ScheduleRef,
    /// The rule's target id (a rule has up to five targets); none for a schedule's one target.
    pub target_id: Option<String>,
    /// The task definition it runs (a revision ARN, or a family ARN: the family's newest).
    pub task_definition: String,
}

/// The ECS targets `schedule` holds (a target of another kind is left out); a rule or schedule
/// that does not exist is an error.
pub async fn read_targets(clients: &Schedulers, schedule: &ScheduleRef) -> Result<Vec<ScheduledTarget>, AwsError> {
    match schedule {
        ScheduleRef::Rule { bus, name } => {
            let targets = rule_targets(clients, bus, name).await?;
            Ok(targets
                .iter()
                .filter_map(|t| {
                    Some(ScheduledTarget {
                        schedule: schedule.clone(),
                        target_id: Some(t.id.clone()),
                        task_definition: t.ecs_parameters.as_ref()?.task_definition_arn.clone(),
                    })
                })
                .collect())
        }
        ScheduleRef::Schedule { .. } => {
            let got = get_schedule(clients, schedule).await?;
            Ok(got
                .target()
                .and_then(|t| t.ecs_parameters())
                .map(|ecs| ScheduledTarget {
                    schedule: schedule.clone(),
                    target_id: None,
                    task_definition: ecs.task_definition_arn.clone(),
                })
                .into_iter()
                .collect())
        }
    }
}

/// Points `target` at `task_definition`, if it still runs what it ran when read (another writer
/// in between: an error, nothing changed). Every other member of the target (and of the
/// schedule) is sent back as read.
pub async fn point(clients: &Schedulers, target: &ScheduledTarget, task_definition: &str) -> Result<(), AwsError> {
    let changed_under_us = |now: &str| AwsError {
        service: "EventBridge",
        operation: "PutTargets",
        resource: target.schedule.to_string(),
        code: Some("ChangedSinceRead".into()),
        message: format!(
            "the target runs {now} now, not {} as read: left for the next run",
            target.task_definition
        ),
        transient: true,
    };
    match &target.schedule {
        ScheduleRef::Rule { bus, name } => {
            let targets = rule_targets(clients, bus, name).await?;
            let Some(mut found) = targets.into_iter().find(|t| Some(&t.id) == target.target_id.as_ref()) else {
                return Err(changed_under_us("nothing (the target is gone)"));
            };
            let Some(ecs) = found.ecs_parameters.as_mut() else {
                return Err(changed_under_us("no ECS task"));
            };
            if ecs.task_definition_arn != target.task_definition {
                return Err(changed_under_us(&ecs.task_definition_arn));
            }
            ecs.task_definition_arn = task_definition.to_owned();
            let resource = target.schedule.to_string();
            let answer = clients
                .rules
                .put_targets()
                .event_bus_name(bus)
                .rule(name)
                .targets(found)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("EventBridge", "PutTargets", resource.clone(), e))?;
            match answer.failed_entries().first() {
                None => Ok(()),
                Some(failed) => Err(AwsError {
                    service: "EventBridge",
                    operation: "PutTargets",
                    resource,
                    code: failed.error_code().map(str::to_owned),
                    message: failed.error_message().unwrap_or("the target was not put").to_owned(),
                    transient: false,
                }),
            }
        }
        ScheduleRef::Schedule { .. } => {
            let got = get_schedule(clients, &target.schedule).await?;
            let now = got
                .target()
                .and_then(|t| t.ecs_parameters())
                .map(|e| e.task_definition_arn.as_str());
            if now != Some(target.task_definition.as_str()) {
                return Err(changed_under_us(now.unwrap_or("no ECS task")));
            }
            update_of(&got, task_definition, SystemTime::now())
                .send_with(&clients.schedules)
                .await
                .map(|_| ())
                .map_err(|e| {
                    AwsError::from_sdk(
                        "EventBridge Scheduler",
                        "UpdateSchedule",
                        target.schedule.to_string(),
                        e,
                    )
                })
        }
    }
}

/// The `UpdateSchedule` that changes only the ECS target's task definition of the schedule
/// `got` describes. UpdateSchedule sets every member it is not given to its default, so each
/// one GetSchedule answers is sent back, but a `StartDate` already past (AWS refuses a start
/// more than 5 minutes ago; a recurring schedule that has started goes on the same without it).
pub fn update_of(got: &GetScheduleOutput, task_definition: &str, now: SystemTime) -> UpdateScheduleInputBuilder {
    let mut target = got.target.clone();
    if let Some(ecs) = target.as_mut().and_then(|t| t.ecs_parameters.as_mut()) {
        ecs.task_definition_arn = task_definition.to_owned();
    }
    let future_start = got
        .start_date
        .filter(|start| SystemTime::try_from(*start).is_ok_and(|start| start > now));
    UpdateScheduleInputBuilder::default()
        .set_name(got.name.clone())
        .set_group_name(got.group_name.clone())
        .set_schedule_expression(got.schedule_expression.clone())
        .set_schedule_expression_timezone(got.schedule_expression_timezone.clone())
        .set_start_date(future_start)
        .set_end_date(got.end_date)
        .set_description(got.description.clone())
        .set_state(got.state.clone())
        .set_kms_key_arn(got.kms_key_arn.clone())
        .set_flexible_time_window(got.flexible_time_window.clone())
        .set_action_after_completion(got.action_after_completion.clone())
        .set_target(target)
}

async fn rule_targets(
    clients: &Schedulers,
    bus: &str,
    name: &str,
) -> Result<Vec<aws_sdk_eventbridge::types::Target>, AwsError> {
    let mut targets = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = clients
            .rules
            .list_targets_by_rule()
            .event_bus_name(bus)
            .rule(name)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("EventBridge", "ListTargetsByRule", format!("rule/{bus}/{name}"), e))?;
        targets.extend(page.targets.unwrap_or_default());
        match page.next_token {
            Some(token) if !token.is_empty() => next = Some(token),
            _ => return Ok(targets),
        }
    }
}

async fn get_schedule(clients: &Schedulers, schedule: &ScheduleRef) -> Result<GetScheduleOutput, AwsError> {
    let (group, name) = schedule.parts();
    clients
        .schedules
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("EventBridge Scheduler", "GetSchedule", schedule.to_string(), e))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_scheduler::types::{
        ActionAfterCompletion, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
    };
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::testing::top_level_fields;

    /// A schedule with every member GetSchedule models set.
    fn every_member(start: SystemTime) -> GetScheduleOutput {
        let target = Target::builder()
            .arn("arn:aws:ecs:eu-west-1:111122223333:cluster/jobs")
            .role_arn("arn:aws:iam::111122223333:role/scheduler")
            .ecs_parameters(
                EcsParameters::builder()
                    .task_definition_arn("arn:aws:ecs:eu-west-1:111122223333:task-definition/report:3")
                    .task_count(2)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        GetScheduleOutput::builder()
            .arn("arn:aws:scheduler:eu-west-1:111122223333:schedule/reports/daily")
            .group_name("reports")
            .name("daily")
            .schedule_expression("cron(0 3 * * ? *)")
            .schedule_expression_timezone("Europe/Paris")
            .start_date(DateTime::from(start))
            .end_date(DateTime::from_secs(4_000_000_000))
            .description("nightly report")
            .state(ScheduleState::Disabled)
            .creation_date(DateTime::from_secs(1_700_000_000))
            .last_modification_date(DateTime::from_secs(1_700_000_100))
            .kms_key_arn("arn:aws:kms:eu-west-1:111122223333:key/k")
            .target(target)
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Flexible)
                    .maximum_window_in_minutes(15)
                    .build()
                    .unwrap(),
            )
            .action_after_completion(ActionAfterCompletion::None)
            .build()
    }

    #[test]
    fn an_update_sends_back_every_member_and_changes_only_the_revision() {
        let now = SystemTime::now();
        let got = every_member(now + Duration::from_secs(3600));
        // A member the SDK gains shows as `None` in the fixture: add it there and to `update_of`.
        let debug = format!("{got:?}");
        let unset: Vec<_> = top_level_fields(&debug)
            .into_iter()
            .filter(|(field, value)| *value == "None" && *field != "_request_id")
            .collect();
        assert!(
            unset.is_empty(),
            "GetScheduleOutput members the fixture leaves out: {unset:?}"
        );
        let update = update_of(&got, "arn:aws:ecs:eu-west-1:111122223333:task-definition/report:4", now)
            .build()
            .unwrap();
        let debug = format!("{update:?}");
        let unsent: Vec<_> = top_level_fields(&debug)
            .into_iter()
            .filter(|(field, value)| *value == "None" && *field != "client_token")
            .collect();
        assert!(unsent.is_empty(), "members UpdateSchedule would reset: {unsent:?}");
        let target = update.target.unwrap();
        assert_eq!(
            target.ecs_parameters.as_ref().unwrap().task_definition_arn,
            "arn:aws:ecs:eu-west-1:111122223333:task-definition/report:4"
        );
        assert_eq!(target.ecs_parameters.unwrap().task_count, Some(2));
        assert_eq!(update.description.as_deref(), Some("nightly report"));
    }

    #[test]
    fn a_start_date_already_past_is_not_sent_back() {
        let now = SystemTime::now();
        let got = every_member(now - Duration::from_secs(86_400));
        let update = update_of(&got, "td:4", now).build().unwrap();
        assert_eq!(update.start_date, None);
        assert!(update.end_date.is_some());
    }
}
