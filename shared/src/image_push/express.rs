//! Deploys of ECS Express Mode services (`"express": true`): the service's primary container
//! moves to the digest-pinned image with `UpdateExpressGatewayService` (every other member sent
//! back as read); ECS makes the new revision and deploys it, canary with alarm rollback. The
//! deploy is recorded with the service's new deployment and followed like any other (ECS's
//! events and the settle run see an ECS service), under the service's lease.

use super::{record, Clients, Goal, Outcome, Report};
use crate::aws::ecr;
use crate::aws::ecs::{self, express};
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::job::Settings;
use crate::lease;
use crate::records::{deploy_id, Trigger};

/// Deploys `goal` to the Express service of `app` (a plan only, when `dry_run`).
pub(crate) async fn deploy(
    clients: &Clients,
    settings: &Settings,
    trigger: &Trigger,
    goal: &Goal,
    app: &AppConfig,
    dry_run: bool,
) -> Report {
    if let Goal::Manual(DeployTarget::Revision { .. }) = goal {
        return Report::skipped(
            app,
            Outcome::Failed,
            "an Express Mode service takes an image, not a revision: deploy a tag or a digest",
        );
    }
    let Some(query) = goal.image_query() else {
        return Report::skipped(
            app,
            Outcome::Failed,
            "an Express Mode service rolls back by a deploy of an earlier digest (ECS rolls a failed update back by itself)",
        );
    };
    let reached = clients.for_app(app).await;
    let (service, target) = tokio::join!(
        express::describe_express(&reached.ecs, &app.service),
        ecr::describe_images(
            &reached.ecr,
            app.registry_id.as_deref(),
            &app.repository,
            std::slice::from_ref(&query)
        )
    );
    let service = match service {
        Ok(Some(service)) => service,
        Ok(None) => {
            return Report::skipped(
                app,
                Outcome::Failed,
                format!("Express service `{}` not found", app.service),
            )
        }
        Err(err) => return Report::skipped(app, super::apply::outcome_of(&err), err.to_string()),
    };
    let old = service.task_definition.clone();
    let with_old = |outcome, reason: String| Report {
        old_task_definition: old.clone(),
        ..Report::skipped(app, outcome, reason)
    };
    let target = match target {
        Ok(found) => found.into_iter().next(),
        Err(err) if err.code.as_deref() == Some("ImageNotFoundException") => None,
        Err(err) => return with_old(super::apply::outcome_of(&err), err.to_string()),
    };
    let Some(target) = target else {
        let outcome = match goal {
            Goal::Push { .. } => Outcome::Stale,
            _ => Outcome::Failed,
        };
        return with_old(
            outcome,
            format!("{query:?} not found in repository `{}`", app.repository),
        );
    };
    if let Goal::Push { tag, digest, .. } = goal {
        if &target.digest != digest {
            return with_old(
                Outcome::Stale,
                format!(
                    "tag `{tag}` now points to {}, not to this event's {digest}",
                    target.digest
                ),
            );
        }
    }
    let image = ecr::pinned_image(
        &ecr::registry_host(&target.registry_id, &clients.registry_region),
        &app.repository,
        &target.digest,
    );
    if service.primary.image == image {
        return Report {
            image: Some(image),
            new_task_definition: old.clone(),
            ..with_old(
                Outcome::Unchanged,
                format!("Express service already runs {}", target.digest),
            )
        };
    }
    let action = format!(
        "~ Express service {}: primary container {} -> {image}",
        app.service_label(),
        service.primary.image
    );
    let planned = Report {
        image: Some(image.clone()),
        actions: vec![action],
        ..with_old(Outcome::Planned, String::new())
    };
    if dry_run {
        return Report {
            reason: None,
            ..planned
        };
    }
    let owner = deploy_id(trigger, &app.name);
    let purpose = format!("{} Express deploy of {}", app.name, target.digest);
    let work = update(&reached.ecs, app, &service, &image);
    let updated = match lease::holding(&clients.s3, settings.lease.as_ref(), app, &owner, &purpose, work).await {
        Ok(updated) => updated,
        Err(err) => return with_old(Outcome::Deferred, format!("{err}; a retry deploys it")),
    };
    let mut report = match updated {
        Ok(Updated::Moved { new, deployment }) => Report {
            outcome: Outcome::Deployed,
            reason: None,
            new_task_definition: new,
            ecs_deployment_id: deployment,
            ..planned
        },
        Ok(Updated::ChangedMeanwhile(runs)) => {
            return with_old(
                Outcome::Stale,
                format!(
                    "the Express service was moved meanwhile (it runs {runs}): not updated; the newer deploy stands"
                ),
            )
        }
        Err(err) => Report {
            outcome: super::apply::outcome_of(&err),
            reason: Some(format!("{err}; the service still runs {}", service.primary.image)),
            ..planned
        },
    };
    let attempt = record::Attempt {
        app,
        goal,
        trigger,
        // Express deploys are canaries with alarm-based rollback: ECS rolls a failure back.
        rolls_back_on_failure: true,
        observed_deployment: None,
    };
    record::record_attempt(clients, settings, &attempt, &mut report, None).await;
    report
}

/// What the update under the lease did.
enum Updated {
    /// The service moves to the new revision (`new`), rolled out by `deployment`.
    Moved {
        new: Option<String>,
        deployment: Option<String>,
    },
    /// Another deploy moved the service since it was read: it now runs this image.
    ChangedMeanwhile(String),
}

/// Under the lease: the service read again (another deploy may have moved it since it was
/// planned), the update, then the service's deployment of the new revision (what ECS's events
/// name).
async fn update(
    client: &ecs::Ecs,
    app: &AppConfig,
    planned_from: &express::ExpressService,
    image: &str,
) -> Result<Updated, AwsError> {
    let service = match express::describe_express(client, &planned_from.arn).await? {
        Some(now) if now.primary == planned_from.primary => now,
        Some(now) => return Ok(Updated::ChangedMeanwhile(now.primary.image)),
        None => return Ok(Updated::ChangedMeanwhile("nothing: it is gone".into())),
    };
    let new = express::update_express(client, &service.arn, express::with_image(&service.primary, image)).await?;
    let described = ecs::describe_services(client, &app.cluster, std::slice::from_ref(&app.service)).await?;
    let deployment = described
        .iter()
        .find(|s| s.is(&app.service))
        .and_then(|s| {
            s.deployments
                .iter()
                .find(|d| Some(&d.task_definition) == new.as_ref() || d.status == "PRIMARY")
        })
        .map(|d| d.id.clone());
    Ok(Updated::Moved { new, deployment })
}
