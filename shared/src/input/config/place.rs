//! Where an application's service is: which role and region reach it, and which
//! applications an ECS service ARN names from where the function runs.

use serde::{Deserialize, Serialize};

use super::{AppConfig, Config};
use crate::aws::arn::short_name;

/// Where an application's service is reached: through which role (with its external id) and in
/// which region; all none for the function's own account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServicePlace {
    /// Role assumed for the service's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External id that role's trust policy asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Region of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl ServicePlace {
    /// True for the function's own account and region.
    pub fn is_own(&self) -> bool {
        *self == ServicePlace::default()
    }
}

/// `apps` grouped by `key`, groups in first-seen order, each keeping the applications' order.
pub fn grouped<'a, K: PartialEq>(
    apps: impl IntoIterator<Item = &'a AppConfig>,
    key: impl Fn(&AppConfig) -> K,
) -> Vec<(K, Vec<&'a AppConfig>)> {
    let mut groups: Vec<(K, Vec<&AppConfig>)> = Vec::new();
    for app in apps {
        let k = key(app);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, group)) => group.push(app),
            None => groups.push((k, vec![app])),
        }
    }
    groups
}

impl Config {
    /// The applications an ECS service ARN can name: `arn:...:<region>:<account>:service/<cluster>/<name>`,
    /// or the short form of services created before 2021, `...:service/<name>`, which names no
    /// cluster (every application of that service name in that place is a candidate). The ARN's
    /// account and region must equal the application's exactly: its role's account (else the
    /// function's own, when known) and its region (else the function's own). An event of
    /// another account or region never reaches an application of this one.
    pub fn apps_for_service_arn(&self, service_arn: &str, own: OwnPlace<'_>) -> Vec<&AppConfig> {
        let fields: Vec<&str> = service_arn.splitn(6, ':').collect();
        let (Some(region), Some(account), Some(resource)) = (fields.get(3), fields.get(4), fields.get(5)) else {
            return Vec::new();
        };
        let Some(path) = resource.strip_prefix("service/") else {
            return Vec::new();
        };
        let (cluster, service) = match path.split_once('/') {
            Some((cluster, service)) => (Some(cluster), service),
            None => (None, path),
        };
        self.apps
            .iter()
            .filter(|app| {
                short_name(&app.service) == service
                    && cluster.is_none_or(|cluster| short_name(&app.cluster) == cluster)
                    && app.region.as_deref().unwrap_or(own.region) == *region
                    && app.account().or(own.account).is_none_or(|a| a == *account)
            })
            .collect()
    }

    /// The one application an ECS service ARN names (see [`Config::apps_for_service_arn`]); none
    /// when no application, or several (a short ARN whose service name two clusters share), fit.
    pub fn app_for_service_arn(&self, service_arn: &str, own: OwnPlace<'_>) -> Option<&AppConfig> {
        match self.apps_for_service_arn(service_arn, own).as_slice() {
            [app] => Some(app),
            _ => None,
        }
    }
}

/// Where the function itself runs: what an application without `role_arn` or `region` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnPlace<'a> {
    /// The function's account (from the invoked function's ARN); none outside Lambda, where an
    /// application without a role matches any account.
    pub account: Option<&'a str>,
    /// The function's region.
    pub region: &'a str,
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::OwnPlace;

    #[test]
    fn ecs_events_find_the_application_of_their_account_and_region() {
        let config = Config::parse(
            r#"{"apps": [
                {"name": "own", "cluster": "c", "service": "web", "container": "app", "repository": "web", "tags": ["latest"]},
                {"name": "prod", "cluster": "c", "service": "web", "container": "app", "repository": "web", "tags": ["latest"],
                 "role_arn": "arn:aws:iam::222222222222:role/deployer"},
                {"name": "eu", "cluster": "c", "service": "web", "container": "app", "repository": "web", "tags": ["latest"],
                 "role_arn": "arn:aws:iam::222222222222:role/deployer", "region": "eu-west-1"}
            ]}"#,
            "test",
        )
        .unwrap();
        let own = OwnPlace {
            account: Some("111111111111"),
            region: "us-east-1",
        };
        let name = |arn: &str| config.app_for_service_arn(arn, own).map(|a| a.name.as_str());
        assert_eq!(name("arn:aws:ecs:us-east-1:111111111111:service/c/web"), Some("own"));
        assert_eq!(name("arn:aws:ecs:us-east-1:222222222222:service/c/web"), Some("prod"));
        assert_eq!(name("arn:aws:ecs:eu-west-1:222222222222:service/c/web"), Some("eu"));
        assert_eq!(name("arn:aws:ecs:us-east-1:222222222222:service/c/other"), None);
        // Exactly: a listed workload account no app names, or a region no app names, is nobody's
        // (the app without a role is the function's own account and region, not "any").
        assert_eq!(name("arn:aws:ecs:us-east-1:333333333333:service/c/web"), None);
        assert_eq!(name("arn:aws:ecs:ap-northeast-1:111111111111:service/c/web"), None);
        assert_eq!(name("arn:aws:ecs:eu-west-1:111111111111:service/c/web"), None);
        // Short ARNs (services created before 2021) name no cluster: matched by name and place.
        assert_eq!(name("arn:aws:ecs:us-east-1:222222222222:service/web"), Some("prod"));
        // Outside Lambda the function's account is unknown: an app without a role fits any.
        let local = OwnPlace {
            account: None,
            region: "us-east-1",
        };
        assert_eq!(
            config
                .app_for_service_arn("arn:aws:ecs:us-east-1:333333333333:service/c/web", local)
                .map(|a| a.name.as_str()),
            Some("own")
        );
    }

    #[test]
    fn a_short_service_arn_fits_every_app_of_that_name_in_its_place() {
        let config = Config::parse(
            r#"{"apps": [
                {"name": "a", "cluster": "one", "service": "web", "container": "app", "repository": "web", "tags": ["latest"]},
                {"name": "b", "cluster": "two", "service": "web", "container": "app", "repository": "web", "tags": ["latest"]},
                {"name": "c", "cluster": "two", "service": "arn:aws:ecs:us-east-1:111111111111:service/api", "container": "app", "repository": "web", "tags": ["latest"]}
            ]}"#,
            "test",
        )
        .unwrap();
        let own = OwnPlace {
            account: Some("111111111111"),
            region: "us-east-1",
        };
        let names = |arn: &str| -> Vec<&str> {
            config
                .apps_for_service_arn(arn, own)
                .iter()
                .map(|a| a.name.as_str())
                .collect()
        };
        assert_eq!(names("arn:aws:ecs:us-east-1:111111111111:service/web"), ["a", "b"]);
        assert_eq!(
            config.app_for_service_arn("arn:aws:ecs:us-east-1:111111111111:service/web", own),
            None
        );
        assert_eq!(names("arn:aws:ecs:us-east-1:111111111111:service/two/web"), ["b"]);
        // A service the configuration names by its short ARN.
        assert_eq!(names("arn:aws:ecs:us-east-1:111111111111:service/api"), ["c"]);
        assert_eq!(names("arn:aws:ecs:us-east-1:111111111111:service/two/api"), ["c"]);
    }
}
