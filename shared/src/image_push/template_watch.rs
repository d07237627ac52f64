//! A template change without a push. The settle run asks ECS, for each application that copies
//! templates and whose newest deploy completed, for its family's latest revision (one
//! `DescribeTaskDefinition`); when that names a template newer than the one the running revision
//! was built from, it publishes `Template Changed` once per application and template (a marker
//! `templates/<app>/<revision>.json` written with `If-None-Match`), and, for an application with
//! `on_template_change: "deploy"`, deploys the template with the digest the application runs (a
//! deploy with trigger `template`, recorded and followed like any).

use futures::stream::{self, StreamExt};

use super::template::shape_changes;
use super::{deploy_apps, Clients, Goal, Outcome, Report};
use crate::aws::arn::family_and_revision;
use crate::aws::events::Entry;
use crate::aws::{ecs, s3};
use crate::input::config::{AppConfig, Base, OnTemplateChange};
use crate::input::events::DeployTarget;
use crate::job::{Invocation, Settings};
use crate::notify;
use crate::records::{DeployIndex, DeployOutcome, Trigger, TriggerKind};

/// Who a template deploy's record names as having asked.
pub const TEMPLATE_BY: &str = "ecs-deployer (template change)";

/// The key of the marker that says `Template Changed` was published for `app` and `template`.
pub fn marker_key(app: &str, template: &str) -> String {
    let label = family_and_revision(template)
        .map(|(family, revision)| format!("{family}-{revision}"))
        .unwrap_or_else(|| format!("{:016x}", crate::records::fnv1a(template)));
    format!("templates/{app}/{label}.json")
}

/// The revision the application runs by its records and the template that revision was built
/// from: the newest deploy's, when it completed (an application with a deploy under way is
/// looked at when it ends).
pub fn running_of(index: &DeployIndex) -> Option<(String, String)> {
    let newest = index.records.first()?;
    if newest.outcome != DeployOutcome::Completed {
        return None;
    }
    let running = newest.new_task_definition.clone()?;
    let template = newest.template.clone().unwrap_or_else(|| running.clone());
    Some((running, template))
}

/// The settle run's look at every application's template (see the module's documentation).
pub async fn watch_templates(
    clients: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    indexes: &[(&AppConfig, DeployIndex)],
) -> Vec<Report> {
    let watched = indexes
        .iter()
        // An Express Mode service's revisions are ECS's own: it has no template to watch.
        .filter(|(app, _)| app.base == Base::Template && !app.express)
        .filter_map(|(app, index)| running_of(index).map(|running| (*app, running)));
    let found: Vec<Option<Report>> = stream::iter(watched.map(|(app, (running, template))| async move {
        let family = family_and_revision(&running)?.0;
        let reach = clients.for_app(app).await;
        match super::observe::template_after(&reach, &family, &running, &template).await {
            Ok(Some(newer)) => Some(announce(clients, &reach, settings, invocation, app, &running, newer).await),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(app = %app.name, error = %err, "the template was not checked: checked next run");
                None
            }
        }
    }))
    .buffered(settings.concurrency.max(1))
    .collect()
    .await;
    found.into_iter().flatten().collect()
}

/// Publishes `Template Changed` once for the application and the template, and deploys it when
/// the application asks for that.
/// `reach`: the application's clients (its account and Region).
async fn announce(
    clients: &Clients,
    reach: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    app: &AppConfig,
    running: &str,
    template: crate::aws::revision::Revision,
) -> Report {
    let changes = match ecs::describe_task_definition(&reach.ecs, running).await {
        Ok(current) => shape_changes(&current, &template, &app.listed_containers()),
        Err(err) => vec![format!("(the running revision could not be read: {err})")],
    };
    let first_time = match &settings.records {
        Some(store) => {
            let marker = serde_json::json!({"app": app.name, "template": template.arn(), "running": running});
            let body = serde_json::to_vec_pretty(&marker).expect("markers serialize");
            s3::put_if(
                &clients.s3,
                &store.bucket,
                &marker_key(&app.name, template.arn()),
                body,
                None,
            )
            .await
            .map(|written| written.is_some())
        }
        None => Ok(true),
    };
    match (first_time, &settings.event_bus) {
        (Ok(true), Some(bus)) => {
            let entry = Entry {
                detail_type: notify::TEMPLATE_CHANGED.to_owned(),
                detail: serde_json::json!({
                    "app": app.name,
                    "running": running,
                    "template": template.arn(),
                    "changes": changes,
                    "on_template_change": app.on_template_change,
                    "deploy": {"deploy": {"app": app.name, "revision": template.definition.revision()}},
                }),
            };
            if let Err(err) = notify::publish(&clients.events, bus, &[entry]).await {
                tracing::error!(bus = %bus, error = %err, "Template Changed not published");
            }
        }
        (Err(err), _) => tracing::warn!(app = %app.name, error = %err, "template marker not written"),
        _ => {}
    }
    if app.on_template_change == OnTemplateChange::Deploy {
        let goal = Goal::Manual(DeployTarget::Revision {
            revision: template.definition.revision(),
            digest: None,
        });
        // One id per template: the next settle run finds its record and does nothing twice.
        let trigger = Trigger {
            kind: TriggerKind::Template,
            id: format!("template-{}", template.label()),
            by: Some(TEMPLATE_BY.into()),
        };
        let mut reports = deploy_apps(clients, &[app], &goal, settings, invocation, &trigger, false).await;
        if let Some(report) = reports.pop() {
            return report;
        }
    }
    let mut lines = vec![format!(
        "~ template {} (registered outside the deployer)",
        template.label()
    )];
    lines.extend(changes);
    Report {
        actions: lines,
        ..Report::skipped(
            app,
            Outcome::Pending,
            format!(
                "the template {} is newer than the one the running revision was built from: the next push deploys it, or send {{\"deploy\": {{\"app\": \"{}\", \"revision\": {}}}}}",
                template.label(),
                app.name,
                template.definition.revision()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{deploy_record, digest};

    #[test]
    fn only_a_completed_newest_deploy_says_what_runs_and_its_template() {
        let mut record = deploy_record("d-1", DeployOutcome::Completed, &digest(1), "2026-12-01T10:00:00Z");
        record.new_task_definition = Some("arn:aws:ecs:r:1:task-definition/orders:4".into());
        record.template = Some("arn:aws:ecs:r:1:task-definition/orders:3".into());
        let mut index = DeployIndex {
            records: vec![record.clone()],
        };
        assert_eq!(
            running_of(&index),
            Some((
                "arn:aws:ecs:r:1:task-definition/orders:4".into(),
                "arn:aws:ecs:r:1:task-definition/orders:3".into()
            ))
        );
        index.records[0].template = None;
        assert_eq!(
            running_of(&index).unwrap().1,
            "arn:aws:ecs:r:1:task-definition/orders:4"
        );
        index.records[0].outcome = DeployOutcome::InProgress;
        assert_eq!(running_of(&index), None);
        assert_eq!(
            marker_key("orders", "arn:aws:ecs:r:1:task-definition/orders:3"),
            "templates/orders/orders-3.json"
        );
    }
}
