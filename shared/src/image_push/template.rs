//! Terraform's revision is the template. Terraform (or anyone outside the deployer) owns a task
//! definition's shape: environment, secrets, CPU, memory, roles, sidecars; the deployer owns
//! which image the followed container runs. The family's newest revision the deployer did not
//! register is the application's template; each revision the deployer registers names the
//! template it was built from in its tag [`TEMPLATE_TAG_KEY`]. When the template is newer than
//! the one the running revision was built from, a deploy copies the template (the followed
//! container pinned to the digest) instead of the running revision, and says what changes
//! beyond the image ([`shape_changes`]). Pure: no I/O.

use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, Secret, Tag};

use super::{Goal, Observation};
use crate::aws::arn::{family_and_revision, short_name};
use crate::aws::revision::Revision;
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::ownership::{is_managed, managed_tag};

/// Tag of a revision the deployer registered: the ARN of the template it was built from.
pub const TEMPLATE_TAG_KEY: &str = "ecs-deployer:template";

/// The template `revision` was built from: itself when the deployer did not register it; the
/// ARN its [`TEMPLATE_TAG_KEY`] tag names otherwise; none for a revision the deployer registered
/// before templates were recorded.
pub fn built_from(revision: &Revision) -> Option<String> {
    if !is_managed(&revision.tags) {
        return Some(revision.arn().to_owned());
    }
    revision
        .tags
        .iter()
        .find(|t| t.key() == Some(TEMPLATE_TAG_KEY))
        .and_then(|t| t.value())
        .map(str::to_owned)
}

/// What a template must be later than ([`is_later`]) to be newer than what `current` runs: the
/// template `current` was built from, or, for a revision without a recorded template, `current`
/// itself (a copy is always registered after its source).
pub fn base_of(current: &Revision) -> String {
    built_from(current).unwrap_or_else(|| current.arn().to_owned())
}

/// True when `later` and `earlier` (ARNs) are revisions of one family and `later` has the
/// higher number.
pub fn is_later(later: &str, earlier: &str) -> bool {
    match (family_and_revision(later), family_and_revision(earlier)) {
        (Some((family, revision)), Some((base_family, base_revision))) => {
            family == base_family && revision > base_revision
        }
        _ => false,
    }
}

/// Sets the [`TEMPLATE_TAG_KEY`] tag of `copy` to `template` (replacing one it carried).
pub fn set_template_tag(copy: &mut Revision, template: &str) {
    copy.tags.retain(|t| t.key() != Some(TEMPLATE_TAG_KEY));
    copy.tags
        .push(Tag::builder().key(TEMPLATE_TAG_KEY).value(template).build());
}

/// The shape a deploy copies, with the plan's lines about it: the revision a manual deploy
/// names, the application's newer template (see [`Observation::template`]), or the running
/// revision (no lines). `Err` says why the deploy cannot be made: the named revision is missing,
/// or the shape lacks the followed container.
pub(crate) fn source_of<'a>(
    app: &AppConfig,
    goal: &Goal,
    obs: &'a Observation,
    current: &'a Revision,
) -> Result<(&'a Revision, Vec<String>), String> {
    let named = match goal {
        Goal::Manual(DeployTarget::Revision { revision, .. }) => Some(*revision),
        _ => None,
    };
    let family = current.definition.family().unwrap_or_default();
    let source = match (&obs.template, named) {
        (None, Some(n)) => return Err(format!("revision {family}:{n} does not exist or is not ACTIVE")),
        (None, None) => return Ok((current, Vec::new())),
        (Some(source), _) => source,
    };
    if let Some(missing) = app
        .listed_containers()
        .into_iter()
        .find(|name| source.container_image(name).is_none())
    {
        return Err(format!(
            "container `{missing}` is not in the {} {} (containers: {}): name the followed container in the task definition registered outside the deployer{}",
            if named.is_some() { "named revision" } else { "template" },
            source.label(),
            source.container_names().join(", "),
            if named.is_some() { "" } else { ", or set `\"base\": \"running\"`" }
        ));
    }
    let first = match named {
        Some(_) => format!("~ base {}: the revision this deploy names", source.label()),
        None => {
            let built_from = built_from(current).map_or_else(|| current.label(), |arn| short_name(&arn).to_owned());
            format!(
                "~ base {}: the template registered outside the deployer, newer than {built_from} (what {} was built from)",
                source.label(),
                current.label()
            )
        }
    };
    let mut lines = vec![first];
    lines.extend(shape_changes(current, source, &app.listed_containers()));
    Ok((source, lines))
}

/// A copy of `current` that differs only in the followed container's image, tagged as managed
/// and naming the template it was built from.
pub fn copy_with_image(current: &Revision, container: &str, image: &str) -> Revision {
    let built_from = built_from(current);
    let mut copy = current.clone();
    if let Some(containers) = copy.definition.container_definitions.as_mut() {
        for c in containers.iter_mut().filter(|c| c.name.as_deref() == Some(container)) {
            c.image = Some(image.to_owned());
        }
    }
    if !is_managed(&copy.tags) {
        copy.tags.push(managed_tag());
    }
    if let Some(template) = built_from {
        set_template_tag(&mut copy, &template);
    }
    copy
}

/// What changes from `running` to `template` beyond the followed container's image, one line
/// each (`~ cpu 256 -> 512`, `+ env NEW_FLAG (app)`, `+ container xray`); values of environment
/// variables and secrets are not shown, only their names.
pub fn shape_changes(running: &Revision, template: &Revision, followed: &[&str]) -> Vec<String> {
    let (old, new) = (&running.definition, &template.definition);
    let mut changes = Vec::new();
    let mut scalar = |what: &str, old: Option<&str>, new: Option<&str>| {
        if old != new {
            changes.push(format!(
                "~ {what} {} -> {}",
                old.unwrap_or("none"),
                new.unwrap_or("none")
            ));
        }
    };
    scalar("cpu", old.cpu(), new.cpu());
    scalar("memory", old.memory(), new.memory());
    scalar("task role", old.task_role_arn(), new.task_role_arn());
    scalar("execution role", old.execution_role_arn(), new.execution_role_arn());
    let other_task_settings = [
        ("network mode", debug(&old.network_mode) != debug(&new.network_mode)),
        ("volumes", debug(&old.volumes) != debug(&new.volumes)),
        (
            "ephemeral storage",
            debug(&old.ephemeral_storage) != debug(&new.ephemeral_storage),
        ),
        (
            "runtime platform",
            debug(&old.runtime_platform) != debug(&new.runtime_platform),
        ),
        (
            "placement constraints",
            debug(&old.placement_constraints) != debug(&new.placement_constraints),
        ),
        (
            "proxy configuration",
            debug(&old.proxy_configuration) != debug(&new.proxy_configuration),
        ),
    ];
    changes.extend(
        other_task_settings
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(what, _)| format!("~ {what}")),
    );
    let name = |c: &ContainerDefinition| c.name().unwrap_or_default().to_owned();
    for container in new.container_definitions() {
        match old
            .container_definitions()
            .iter()
            .find(|c| c.name() == container.name())
        {
            None => changes.push(format!("+ container {}", name(container))),
            Some(before) => changes.extend(container_changes(before, container, followed)),
        }
    }
    for container in old.container_definitions() {
        if !new.container_definitions().iter().any(|c| c.name() == container.name()) {
            changes.push(format!("- container {}", name(container)));
        }
    }
    changes
}

/// The changes of one container that both revisions have.
fn container_changes(old: &ContainerDefinition, new: &ContainerDefinition, followed: &[&str]) -> Vec<String> {
    let name = new.name().unwrap_or_default();
    let mut changes = Vec::new();
    if !followed.contains(&name) && old.image() != new.image() {
        changes.push(format!(
            "~ image {} -> {} ({name})",
            old.image().unwrap_or("none"),
            new.image().unwrap_or("none")
        ));
    }
    let env = |pairs: &[KeyValuePair]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|p| {
                (
                    p.name().unwrap_or_default().to_owned(),
                    p.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let secrets = |list: &[Secret]| -> Vec<(String, String)> {
        list.iter()
            .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
            .collect()
    };
    changes.extend(named_changes(
        "env",
        &env(old.environment()),
        &env(new.environment()),
        name,
    ));
    changes.extend(named_changes(
        "secret",
        &secrets(old.secrets()),
        &secrets(new.secrets()),
        name,
    ));
    if old.cpu() != new.cpu() {
        changes.push(format!("~ cpu {} -> {} ({name})", old.cpu(), new.cpu()));
    }
    if old.memory() != new.memory() || old.memory_reservation() != new.memory_reservation() {
        changes.push(format!("~ memory ({name})"));
    }
    let others = [
        ("command", debug(&old.command) != debug(&new.command)),
        ("entry point", debug(&old.entry_point) != debug(&new.entry_point)),
        ("ports", debug(&old.port_mappings) != debug(&new.port_mappings)),
        ("health check", debug(&old.health_check) != debug(&new.health_check)),
        (
            "logging",
            debug(&old.log_configuration) != debug(&new.log_configuration),
        ),
        ("essential", old.essential() != new.essential()),
        ("depends on", debug(&old.depends_on) != debug(&new.depends_on)),
        ("mount points", debug(&old.mount_points) != debug(&new.mount_points)),
    ];
    changes.extend(
        others
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(what, _)| format!("~ {what} ({name})")),
    );
    changes
}

/// `+`, `-` and `~` lines for named values (environment variables, secrets): names only.
fn named_changes(what: &str, old: &[(String, String)], new: &[(String, String)], container: &str) -> Vec<String> {
    let mut changes = Vec::new();
    for (key, value) in new {
        match old.iter().find(|(k, _)| k == key) {
            None => changes.push(format!("+ {what} {key} ({container})")),
            Some((_, before)) if before != value => changes.push(format!("~ {what} {key} ({container})")),
            Some(_) => {}
        }
    }
    for (key, _) in old {
        if !new.iter().any(|(k, _)| k == key) {
            changes.push(format!("- {what} {key} ({container})"));
        }
    }
    changes
}

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::managed_tag;
    use crate::testing::full_revision;

    fn revision(number: i32, managed: Option<&str>) -> Revision {
        let mut revision = full_revision("orders", number, "registry/orders:latest");
        revision
            .tags
            .retain(|t| t.key() != Some(crate::ownership::MANAGED_TAG_KEY));
        if let Some(template) = managed {
            revision.tags.push(managed_tag());
            if !template.is_empty() {
                set_template_tag(&mut revision, template);
            }
        }
        revision
    }

    const ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders";

    #[test]
    fn a_revision_outside_the_deployer_is_its_own_template_and_a_copy_names_its_own() {
        assert_eq!(built_from(&revision(1, None)), Some(format!("{ARN}:1")));
        assert_eq!(
            built_from(&revision(4, Some(&format!("{ARN}:3")))),
            Some(format!("{ARN}:3"))
        );
        assert_eq!(
            built_from(&revision(4, Some(""))),
            None,
            "registered before templates were recorded"
        );
    }

    #[test]
    fn a_template_is_newer_only_past_what_the_running_revision_was_built_from() {
        let is_newer = |template: &str, current: &Revision| is_later(template, &base_of(current));
        // Running orders:1 (Terraform's): orders:3 is newer.
        assert!(is_newer(&format!("{ARN}:3"), &revision(1, None)));
        // Running orders:4, a copy of orders:3: orders:3 is not newer, orders:5 is.
        let copy = revision(4, Some(&format!("{ARN}:3")));
        assert!(!is_newer(&format!("{ARN}:3"), &copy));
        assert!(is_newer(&format!("{ARN}:5"), &copy));
        // Without a recorded template, only revisions after the running one.
        assert!(!is_newer(&format!("{ARN}:3"), &revision(4, Some(""))));
        assert!(is_newer(&format!("{ARN}:5"), &revision(4, Some(""))));
        // Another family is never this one's template.
        assert!(!is_newer(
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/other:9",
            &copy
        ));
    }

    #[test]
    fn shape_changes_name_what_terraform_changed_beyond_the_followed_image() {
        let running = revision(1, None);
        let mut template = revision(3, None);
        assert!(shape_changes(&running, &template, &["app"]).is_empty());
        template.definition.cpu = Some("2048".into());
        let containers = template.definition.container_definitions.as_mut().unwrap();
        let app = containers.iter_mut().find(|c| c.name() == Some("app")).unwrap();
        app.image = Some("registry/orders:other".into());
        app.environment
            .get_or_insert_with(Vec::new)
            .push(KeyValuePair::builder().name("NEW_FLAG").value("on").build());
        let changes = shape_changes(&running, &template, &["app"]);
        assert!(changes.contains(&"+ env NEW_FLAG (app)".to_string()), "{changes:?}");
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("~ cpu ") && c.ends_with("-> 2048")),
            "{changes:?}"
        );
        assert!(
            !changes.iter().any(|c| c.contains("image")),
            "the followed image is the deployer's: {changes:?}"
        );
        template.definition.container_definitions.as_mut().unwrap().pop();
        let changes = shape_changes(&running, &template, &["app"]);
        assert!(changes.iter().any(|c| c.starts_with("- container ")), "{changes:?}");
    }
}
