//! How image-push plans a rollback (pure, no I/O): back to the revision a payload names, or to
//! the last good one (the newest completed deploy's, else the ACTIVE revision before the
//! current); never to a revision that names its image by tag unless forced.

use super::plan::{circuit_breaker_change, service_and_current, update_action_text, update_step};
use super::{Observation, Outcome, Plan, Report, TaskDefinitionChoice};
use crate::aws::ecr::ImageRef;
use crate::aws::revision::Revision;
use crate::input::config::AppConfig;
use crate::ownership::{is_managed, MANAGED_TAG_KEY};

/// Whether the revision ECS described (`described`) backs a recorded last good deploy of `arn`
/// running `image`: it is that revision, the deployer registered it (its managed tag), and its
/// followed container runs the recorded image.
fn vouches_for(described: Option<&Revision>, arn: &str, app: &AppConfig, image: Option<&str>) -> Result<(), String> {
    let Some(revision) = described.filter(|r| r.arn() == arn) else {
        return Err("ECS no longer describes it".into());
    };
    if !is_managed(&revision.tags) {
        return Err(format!("it does not carry the deployer's `{MANAGED_TAG_KEY}` tag"));
    }
    let runs = revision.container_image(&app.container);
    if image.is_some() && runs != image {
        return Err(format!(
            "its `{}` container runs {}, not the recorded image",
            app.container,
            runs.unwrap_or("nothing")
        ));
    }
    Ok(())
}

/// Plans a rollback of one application (pure).
pub fn plan_rollback(app: &AppConfig, revision: Option<i32>, force: bool, obs: &Observation) -> Plan {
    let (service, current) = match service_and_current(app, obs) {
        Ok(found) => found,
        Err(reason) => return Plan::nothing(Report::skipped(app, Outcome::Failed, reason)),
    };
    let old = Some(current.arn().to_owned());
    let fail = |reason: String| Report {
        old_task_definition: old.clone(),
        ..Report::skipped(app, Outcome::Failed, reason)
    };
    let family = current.definition.family().unwrap_or_default();
    let current_revision = current.definition.revision();
    let mut why = String::new();
    let (target_arn, target_label, target_image) = match (revision, &obs.rollback_to) {
        (Some(_), Some(target)) => (
            target.arn().to_owned(),
            target.label(),
            target.container_image(&app.container).map(str::to_owned),
        ),
        (Some(n), None) => {
            return Plan::nothing(fail(format!("revision {family}:{n} does not exist or is not ACTIVE")))
        }
        (None, _) => match (&obs.last_good, obs.family_revisions.iter().find(|(n, _)| *n < current_revision)) {
            (Some(good), _) => {
                let arn = good.new_task_definition.clone().unwrap_or_default();
                // A record is read back from S3: it steers a rollback only when it names a
                // revision of this service's own family, account and region, for this app.
                let place = |arn: &str| arn.rsplit_once(":task-definition/").map(|(place, _)| place.to_owned());
                let named_family = crate::aws::arn::family_and_revision(&arn).map(|(f, _)| f);
                if good.app != app.name || named_family.as_deref() != Some(family) || place(&arn) != place(current.arn()) {
                    return Plan::nothing(fail(format!(
                        "the last good deploy recorded ({}) names {}, not a revision of `{family}` in this service's account and region: not rolled back; name a revision (\"revision\": N)",
                        good.id,
                        crate::input::quoted(&arn)
                    )));
                }
                let label = crate::aws::arn::family_and_revision(&arn)
                    .map(|(f, n)| format!("{f}:{n}"))
                    .unwrap_or_else(|| arn.clone());
                // And only when ECS says that revision is the deployer's and runs the recorded
                // image (a forged record cannot send the service to another revision).
                if let Err(reason) = vouches_for(obs.rollback_to.as_ref(), &arn, app, good.image.as_deref()) {
                    return Plan::nothing(fail(format!(
                        "the last good deploy recorded ({}) names {label}, but {reason}: not rolled back; name a revision (\"revision\": N)",
                        good.id
                    )));
                }
                why = format!(
                    "= last good: {label}, deploy {} completed {}",
                    good.id,
                    good.ended_at.as_deref().unwrap_or("(time unknown)")
                );
                (arn, label, good.image.clone())
            }
            (None, Some((n, arn))) => {
                why = format!(
                    "= no completed deploy of another revision is recorded: the ACTIVE revision before the current one, {family}:{n}"
                );
                let image = obs
                    .rollback_to
                    .as_ref()
                    .filter(|r| r.arn() == arn)
                    .and_then(|r| r.container_image(&app.container))
                    .map(str::to_owned);
                (arn.clone(), format!("{family}:{n}"), image)
            }
            (None, None) => {
                return Plan::nothing(fail(format!(
                    "no recorded good deploy and no ACTIVE revision of `{family}` older than the current {family}:{current_revision}"
                )))
            }
        },
    };
    if target_arn == current.arn() {
        return Plan::nothing(Report {
            new_task_definition: old.clone(),
            ..Report::skipped(
                app,
                Outcome::Unchanged,
                format!("the service already runs {target_label}"),
            )
        });
    }
    // A revision that names its image by tag runs whatever the tag names when its tasks start:
    // perhaps the very image being fled.
    if let Some(by_tag) = target_image
        .as_deref()
        .filter(|image| !force && ImageRef::parse(image).digest.is_none())
    {
        return Plan::nothing(fail(format!(
            "{target_label} names its image by tag ({by_tag}): the tag may now name the image this rollback flees. Deploy that revision's shape with a digest ({{\"deploy\": {{\"app\": \"{}\", \"revision\": {}, \"digest\": \"sha256:...\"}}}}), or add \"force\": true to roll back to it as it is",
            app.name,
            target_label.rsplit(':').next().unwrap_or_default()
        )));
    }
    let deployment_configuration = circuit_breaker_change(app, service);
    let choice = TaskDefinitionChoice::Existing(target_arn.clone());
    let mut actions = vec![
        update_action_text(app, current, &choice, deployment_configuration.is_some())
            .replace(&target_arn, &target_label),
    ];
    if !why.is_empty() {
        actions.insert(0, why);
    }
    Plan {
        report: Report {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome: Outcome::Planned,
            old_task_definition: old,
            new_task_definition: Some(target_arn),
            image: target_image,
            reason: None,
            actions,
            ..Report::skipped(app, Outcome::Planned, "")
        },
        steps: vec![update_step(app, choice, deployment_configuration)],
        observed_task_definition: None,
        observed_deployment: None,
        rolls_back_on_failure: false,
        gate: None,
    }
}
