//! Which applications an `image-push` invocation concerns, and what it asks of them.

use std::collections::BTreeSet;

use super::Goal;
use crate::input::config::{AppConfig, Config};
use crate::input::events::{is_reserved_tag, is_tag, EcrImageAction, ImagePushRequest, TAG_MAX_CHARS};
use crate::input::{quoted, InputError};
use crate::records::parse_time;

pub(crate) fn nanos_since_epoch(at: std::time::SystemTime) -> i128 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The time `nanos` since the epoch names (none before it): the inverse of [`nanos_since_epoch`].
pub(crate) fn time_of_nanos(nanos: i128) -> Option<std::time::SystemTime> {
    let nanos = u64::try_from(nanos).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}

/// The applications an invocation concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// Deploy (or roll back) these applications toward `goal`.
    Apps {
        /// The applications.
        apps: Vec<&'a AppConfig>,
        /// What they should run.
        goal: Goal,
    },
    /// Nothing follows the event, and why.
    Ignored(String),
}

/// Picks the applications a request concerns; a manual payload naming an unknown application is
/// an input error. `own_account` is the function's account, when known: the registry of the
/// applications that name none.
pub fn select<'a>(
    config: &'a Config,
    request: &ImagePushRequest,
    own_account: Option<&str>,
) -> Result<Selection<'a>, InputError> {
    Ok(match request {
        ImagePushRequest::Push {
            detail, time, account, ..
        } => select_for_push(config, detail, time, Registry { account, own_account }),
        ImagePushRequest::Deploy {
            app,
            target,
            override_gate,
            ..
        } => {
            let found = config.find_app(app, "deploy.app")?;
            // A promoted application gets what its source completed, through its gate (soak,
            // approval); a deploy around it is said outright.
            if let (Some(source), false) = (&found.promote_from, override_gate) {
                return Err(InputError::new(
                    "deploy.override",
                    format!(
                        "`{app}` is promoted from `{source}`: deploy it with `promote` (or `approve` a pending promotion), or say \"override\": true to deploy around its promotion gate (recorded and published as an override)"
                    ),
                ));
            }
            Selection::Apps {
                apps: vec![found],
                goal: Goal::Manual(target.clone()),
            }
        }
        ImagePushRequest::Rollback {
            app, revision, force, ..
        } => Selection::Apps {
            apps: vec![config.find_app(app, "rollback.app")?],
            goal: Goal::Rollback {
                revision: *revision,
                force: *force,
            },
        },
        ImagePushRequest::Deployment { .. }
        | ImagePushRequest::ServiceAction { .. }
        | ImagePushRequest::Promote { .. }
        | ImagePushRequest::Approve { .. }
        | ImagePushRequest::Settle
        | ImagePushRequest::Hook { .. }
        | ImagePushRequest::Task { .. }
        | ImagePushRequest::Continue { .. }
        | ImagePushRequest::Abort { .. }
        | ImagePushRequest::Status { .. } => Selection::Ignored("not a deploy: nothing to deploy".into()),
    })
}

/// The registry a push event came from, and the function's own account.
#[derive(Debug, Clone, Copy)]
pub struct Registry<'a> {
    /// The account of the event (an empty string when the event names none).
    pub account: &'a str,
    /// The function's account, when known.
    pub own_account: Option<&'a str>,
}

impl Registry<'_> {
    /// True when the event comes from `app`'s registry: the account it names, else the
    /// function's own (any account when neither the event nor Lambda says one).
    pub fn holds(&self, app: &AppConfig) -> bool {
        match (app.registry_id.as_deref(), self.own_account) {
            (Some(registry), _) => registry == self.account,
            (None, Some(own)) => self.account.is_empty() || own == self.account,
            (None, None) => true,
        }
    }
}

/// Picks the applications a push event concerns, or says why the event is ignored.
/// `time` is the event's: when the push (or the tag move) happened. A push to a repository of
/// the same name in another account concerns only the applications naming that registry.
pub fn select_for_push<'a>(
    config: &'a Config,
    detail: &EcrImageAction,
    time: &str,
    registry: Registry<'_>,
) -> Selection<'a> {
    if detail.action_type != "PUSH" && detail.action_type != "REPLICATE" {
        return Selection::Ignored(format!("action {} is not a push", quoted(&detail.action_type)));
    }
    if detail.result != "SUCCESS" {
        return Selection::Ignored(format!("push result is {}, not SUCCESS", quoted(&detail.result)));
    }
    let Some(digest) = detail.image_digest.clone() else {
        return Selection::Ignored("the event names no image digest".into());
    };
    let Some(tag) = detail.image_tag.clone().filter(|t| !t.is_empty()) else {
        return Selection::Ignored(format!(
            "push of {} without a tag: applications follow tags",
            quoted(&digest)
        ));
    };
    if is_reserved_tag(&tag) {
        return Selection::Ignored(format!(
            "tag {} is the deployer's own (a `live-`/`prev-` tag marks an image in use; moving it is not a deploy)",
            quoted(&tag)
        ));
    }
    if !is_tag(&tag) {
        return Selection::Ignored(format!(
            "tag {} is not one an application can follow (1-{TAG_MAX_CHARS} letters, digits, `_`, `.`, `-`)",
            quoted(&tag)
        ));
    }
    // An application whose `containers` follow another repository too is seen, for a push
    // there, as its facet of that repository.
    let following_repo: Vec<&AppConfig> = config
        .apps
        .iter()
        .chain(&config.facets)
        .filter(|app| app.repository == detail.repository_name && registry.holds(app))
        .collect();
    if following_repo.is_empty() {
        let from = if registry.account.is_empty() {
            String::new()
        } else {
            format!(" of account {}", quoted(registry.account))
        };
        return Selection::Ignored(format!(
            "no application follows repository {}{from}",
            quoted(&detail.repository_name)
        ));
    }
    let apps: Vec<&AppConfig> = following_repo
        .iter()
        .copied()
        .filter(|app| app.follows_tag(&tag))
        .collect();
    if apps.is_empty() {
        let followed: BTreeSet<&str> = following_repo
            .iter()
            .flat_map(|a| a.tags.iter().map(String::as_str))
            .collect();
        return Selection::Ignored(format!(
            "no application follows tag {} of {} (followed: {})",
            quoted(&tag),
            quoted(&detail.repository_name),
            followed.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Selection::Apps {
        apps,
        goal: Goal::Push {
            tag,
            digest,
            happened_at: parse_time(time).map(nanos_since_epoch),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::digest;

    const OWN: Registry<'static> = Registry {
        account: "111111111111",
        own_account: Some("111111111111"),
    };

    #[test]
    fn a_push_in_another_account_concerns_only_the_apps_naming_that_registry() {
        let config = Config::parse(
            r#"{"apps": [
                {"name": "own", "cluster": "c", "service": "a", "container": "app", "repository": "web", "tags": ["latest"]},
                {"name": "central", "cluster": "c", "service": "b", "container": "app", "repository": "web", "tags": ["latest"], "registry_id": "333333333333"},
                {"name": "replica", "cluster": "c", "service": "c", "container": "app", "tags": ["latest"],
                 "repository": "333333333333.dkr.ecr.eu-west-1.amazonaws.com/web"}
            ]}"#,
            "test",
        )
        .unwrap();
        let push = EcrImageAction {
            action_type: "PUSH".into(),
            result: "SUCCESS".into(),
            repository_name: "web".into(),
            image_digest: Some(digest(1)),
            image_tag: Some("latest".into()),
            manifest_media_type: None,
            artifact_media_type: None,
        };
        let names = |account, own_account| match select_for_push(
            &config,
            &push,
            "2026-12-01T00:00:00Z",
            Registry { account, own_account },
        ) {
            Selection::Apps { apps, .. } => apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(","),
            Selection::Ignored(reason) => reason,
        };
        assert_eq!(names("111111111111", Some("111111111111")), "own");
        assert_eq!(names("333333333333", Some("111111111111")), "central,replica");
        assert_eq!(
            names("444444444444", Some("111111111111")),
            "no application follows repository `web` of account `444444444444`"
        );
        // Outside Lambda the function's account is unknown: the apps naming no registry take any.
        assert_eq!(names("444444444444", None), "own");
    }

    #[test]
    fn push_selection_follows_repositories_and_tag_patterns() {
        let config = Config::parse(
            r#"{"apps": [
                {"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders", "tags": ["latest"]},
                {"name": "b", "cluster": "c", "service": "b", "container": "app", "repository": "orders", "tags": ["release-*"]},
                {"name": "c", "cluster": "c", "service": "c", "container": "app", "repository": "payments", "tags": ["latest"]}
            ]}"#,
            "test",
        )
        .unwrap();
        let detail = |tag: Option<&str>| EcrImageAction {
            action_type: "PUSH".into(),
            result: "SUCCESS".into(),
            repository_name: "orders".into(),
            image_digest: Some(digest(1)),
            image_tag: tag.map(str::to_owned),
            manifest_media_type: None,
            artifact_media_type: None,
        };
        let names = |tag| match select_for_push(&config, &detail(Some(tag)), "2026-12-01T00:00:00Z", OWN) {
            Selection::Apps { apps, .. } => Ok(apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>()),
            Selection::Ignored(reason) => Err(reason),
        };
        assert_eq!(names("latest"), Ok(vec!["a".to_string()]));
        assert_eq!(names("release-9"), Ok(vec!["b".to_string()]));
        assert!(names("dev").unwrap_err().contains("followed: latest, release-*"));
        // The deployer's own tags never deploy, not even for an app following every tag; nor
        // does a tag no application can follow (ECR's tags are wider than Docker's).
        let mut every = config.clone();
        every.apps[1].tags = vec!["*".into()];
        for tag in ["live-a", "prev-b", "a/b"] {
            let selection = select_for_push(&every, &detail(Some(tag)), "2026-12-01T00:00:00Z", OWN);
            assert!(matches!(selection, Selection::Ignored(_)), "{tag}: {selection:?}");
        }
        assert!(matches!(
            select_for_push(&config, &detail(None), "2026-12-01T00:00:00Z", OWN),
            Selection::Ignored(reason) if reason.contains("without a tag")
        ));
        let mut delete = detail(Some("latest"));
        delete.action_type = "DELETE".into();
        assert!(matches!(
            select_for_push(&config, &delete, "2026-12-01T00:00:00Z", OWN),
            Selection::Ignored(_)
        ));
    }
}
