//! `containers` (instead of `container`): an application whose deploys set several containers
//! of its task definition: sidecars built from the application's own image (`"sidecar"`), and
//! containers that follow another repository (`{"name": "proxy", "repository": "envoy",
//! "tags": ["stable"]}`), deployed when that repository is pushed while the others keep what
//! they run.

use serde::{Deserialize, Serialize, Serializer};

use super::AppConfig;
use crate::input::json::json_kind;

/// ECS's limit of containers in one task definition.
pub const CONTAINERS_MAX: usize = 10;

/// One entry of `containers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct ContainerConfig {
    /// The container's name in the task definition.
    pub name: String,
    /// The repository it follows (none: the application's `repository`).
    pub repository: Option<String>,
    /// The tags it follows there (none: the application's `tags`).
    pub tags: Option<Vec<String>>,
}

/// A name, or an object naming the repository and tags it follows (what [`ContainerConfig`]'s
/// reading accepts).
impl schemars::JsonSchema for ContainerConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ContainerConfig".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A container that follows the application's repository (its name), or one that follows another repository of the same registry.",
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 255},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The container's name in the task definition."},
                        "repository": {"type": "string", "description": "The repository it follows (default: the application's)."},
                        "tags": {"type": "array", "items": {"type": "string"}, "description": "The tags it follows there (default: the application's)."}
                    }
                }
            ]
        })
    }
}

const EXPECTED: &str =
    "expected a container name, or {\"name\": ..., \"repository\": ..., \"tags\": [...]} for one that follows another repository";

impl TryFrom<serde_json::Value> for ContainerConfig {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        let object = match value {
            serde_json::Value::String(name) => {
                return Ok(ContainerConfig {
                    name,
                    repository: None,
                    tags: None,
                })
            }
            serde_json::Value::Object(object) => object,
            other => return Err(format!("{EXPECTED}, got {}", json_kind(&other))),
        };
        if let Some(key) = object
            .keys()
            .find(|k| !["name", "repository", "tags"].contains(&k.as_str()))
        {
            return Err(format!("unknown field `{key}`: {EXPECTED}"));
        }
        let text = |field: &str| match object.get(field) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{field}`: expected a string, got {}", json_kind(other))),
        };
        let name = text("name")?.ok_or_else(|| format!("missing `name`: {EXPECTED}"))?;
        let tags = match object.get("tags") {
            None => None,
            Some(serde_json::Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("`tags`: expected an array of tag names or patterns")?,
            ),
            Some(other) => return Err(format!("`tags`: expected an array, got {}", json_kind(other))),
        };
        Ok(ContainerConfig {
            name,
            repository: text("repository")?,
            tags,
        })
    }
}

impl Serialize for ContainerConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.repository.is_none() && self.tags.is_none() {
            return serializer.serialize_str(&self.name);
        }
        let mut object = serde_json::Map::new();
        object.insert("name".into(), self.name.clone().into());
        if let Some(repository) = &self.repository {
            object.insert("repository".into(), repository.clone().into());
        }
        if let Some(tags) = &self.tags {
            object.insert("tags".into(), tags.clone().into());
        }
        object.serialize(serializer)
    }
}

impl AppConfig {
    /// The repository `entry` follows.
    fn repository_of<'a>(&'a self, entry: &'a ContainerConfig) -> &'a str {
        entry.repository.as_deref().unwrap_or(&self.repository)
    }

    /// The containers a deploy of the application's `repository` sets to the new image:
    /// `container`, and every `containers` entry that follows that repository.
    pub fn deployed_containers(&self) -> Vec<&str> {
        if self.containers.is_empty() {
            return vec![self.container.as_str()];
        }
        self.containers
            .iter()
            .filter(|c| self.repository_of(c) == self.repository)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The listed containers that follow another repository: a deploy keeps the image each runs.
    pub fn kept_containers(&self) -> Vec<&str> {
        self.containers
            .iter()
            .filter(|c| self.repository_of(c) != self.repository)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Every container the application's deploys set or keep: `container`, or all of
    /// `containers`.
    pub fn listed_containers(&self) -> Vec<&str> {
        if self.containers.is_empty() {
            return vec![self.container.as_str()];
        }
        self.containers.iter().map(|c| c.name.as_str()).collect()
    }

    /// Every repository the application follows, once each: `repository`, then the others its
    /// `containers` name.
    pub fn followed_repositories(&self) -> Vec<&str> {
        let mut repositories = vec![self.repository.as_str()];
        for entry in &self.containers {
            let repository = self.repository_of(entry);
            if !repositories.contains(&repository) {
                repositories.push(repository);
            }
        }
        repositories
    }

    /// True when some listed container follows another repository than `repository`.
    pub fn follows_several_repositories(&self) -> bool {
        !self.kept_containers().is_empty()
    }

    /// Reads `containers` into `container` (the first that follows `repository`), so the rest
    /// of the deployer names the application's main container as before.
    pub(super) fn read_containers(&mut self) {
        if self.container.is_empty() {
            if let Some(first) = self
                .containers
                .iter()
                .find(|c| self.repository_of(c) == self.repository)
            {
                self.container = first.name.clone();
            }
        }
    }

    /// The application as a push of another repository it follows sees it: that repository
    /// and its tags, its first container following it as `container`, every entry naming its
    /// repository; deploys, records and leases stay the application's (same name, service).
    pub(super) fn facets(&self) -> Vec<AppConfig> {
        self.followed_repositories()
            .into_iter()
            .skip(1)
            .map(|repository| {
                let first = self
                    .containers
                    .iter()
                    .find(|c| self.repository_of(c) == repository)
                    .expect("a container follows it");
                AppConfig {
                    repository: repository.to_owned(),
                    tags: first.tags.clone().unwrap_or_else(|| self.tags.clone()),
                    container: first.name.clone(),
                    containers: self
                        .containers
                        .iter()
                        .map(|c| ContainerConfig {
                            repository: Some(self.repository_of(c).to_owned()),
                            ..c.clone()
                        })
                        .collect(),
                    ..self.clone()
                }
            })
            .collect()
    }
}

/// The problems of an application's `container`/`containers`, as (field, message).
pub(super) fn problems(app: &AppConfig, given_container: bool) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut push = |field: String, message: &str| problems.push((field, message.to_owned()));
    if app.containers.is_empty() {
        // An Express Mode service has one primary container, which ECS names.
        if !given_container && !app.express {
            push(
                "container".into(),
                "missing field, expected `container` (or `containers`)",
            );
        }
        return problems;
    }
    if given_container {
        push(
            "containers".into(),
            "`container` and `containers` exclude each other: list every container in `containers`",
        );
    }
    if app.containers.len() > CONTAINERS_MAX {
        push(
            "containers".into(),
            "expected at most 10 containers (ECS's limit for one task definition)",
        );
    }
    if app.deployed_containers().is_empty() {
        push(
            "containers".into(),
            "expected at least one container that follows the application's `repository`",
        );
    }
    for (n, entry) in app.containers.iter().enumerate() {
        if entry.name.is_empty() || entry.name.len() > 255 {
            push(
                format!("containers[{n}].name"),
                "expected a container name of 1-255 characters",
            );
        }
        if app.containers[..n].iter().any(|c| c.name == entry.name) {
            push(format!("containers[{n}].name"), "duplicate container name");
        }
        if entry
            .repository
            .as_deref()
            .is_some_and(|r| !super::names::is_repository_name(r))
        {
            push(
                format!("containers[{n}].repository"),
                "expected an ECR repository name in the application's registry (lowercase letters, digits, `.`, `_`, `-`, `/`)",
            );
        }
        if entry.tags.is_some() && app.repository_of(entry) == app.repository {
            push(
                format!("containers[{n}].tags"),
                "tags of the application's own repository are its `tags`: name another `repository`",
            );
        }
        for (t, tag) in entry.tags.iter().flatten().enumerate() {
            if !super::names::is_tag_pattern(tag) {
                push(
                    format!("containers[{n}].tags[{t}]"),
                    "expected a tag name or pattern (letters, digits, `_`, `.`, `-`, `*`, `?`)",
                );
            }
        }
    }
    if app.follows_several_repositories() && app.promote_from.is_some() {
        push(
            "promote_from".into(),
            "a promotion moves one digest: an application whose containers follow several repositories is deployed by pushes (or a release `group`), not promoted",
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn parse(containers: &str) -> Result<Config, Vec<(String, String)>> {
        let text = format!(
            r#"{{"apps": [{{"name": "orders", "cluster": "sss", "service": "orders", "repository": "orders", "tags": ["latest"], {containers}}}]}}"#
        );
        Config::parse(&text, "test").map_err(|e| e.problems.into_iter().map(|p| (p.path, p.message)).collect())
    }

    #[test]
    fn containers_of_the_own_image_and_of_another_repository_read_as_facets() {
        let config =
            parse(r#""containers": ["app", "worker", {"name": "proxy", "repository": "envoy", "tags": ["stable"]}]"#)
                .unwrap();
        let app = &config.apps[0];
        assert_eq!(app.container, "app");
        assert_eq!(app.deployed_containers(), ["app", "worker"]);
        assert_eq!(app.kept_containers(), ["proxy"]);
        // A push of `envoy` sees the application as its facet: same name and service.
        let [facet] = config.facets.as_slice() else {
            panic!("one facet: {:?}", config.facets)
        };
        assert_eq!(
            (facet.name.as_str(), facet.repository.as_str(), facet.container.as_str()),
            ("orders", "envoy", "proxy")
        );
        assert_eq!(facet.tags, ["stable"]);
        assert_eq!(facet.deployed_containers(), ["proxy"]);
        assert_eq!(facet.kept_containers(), ["app", "worker"]);
        // Written back as given.
        let written = serde_json::to_value(app).unwrap();
        assert_eq!(
            written["containers"],
            serde_json::json!(["app", "worker", {"name": "proxy", "repository": "envoy", "tags": ["stable"]}])
        );
        // One repository: no facet.
        assert!(parse(r#""containers": ["app", "sidecar"]"#).unwrap().facets.is_empty());
    }

    #[test]
    fn bad_containers_are_named_by_path() {
        let problems = |containers: &str| parse(containers).unwrap_err();
        let only = |containers: &str| {
            let found = problems(containers);
            assert_eq!(found.len(), 1, "{found:?}");
            found[0].clone()
        };
        assert_eq!(only(r#""containers": []"#).0, "apps[0].container");
        assert!(only(r#""container": "app", "containers": ["app"]"#)
            .1
            .contains("exclude each other"));
        assert_eq!(only(r#""containers": ["app", "app"]"#).0, "apps[0].containers[1].name");
        assert!(only(r#""containers": [{"name": "proxy", "repository": "envoy"}]"#)
            .1
            .contains("at least one container that follows"));
        assert_eq!(
            only(r#""containers": ["app", {"name": "proxy", "repository": "Envoy"}]"#).0,
            "apps[0].containers[1].repository"
        );
        assert_eq!(
            only(r#""containers": ["app", {"name": "side", "tags": ["x"]}]"#).0,
            "apps[0].containers[1].tags"
        );
        let (path, message) = only(r#""containers": ["app", {"name": "proxy", "image": "envoy"}]"#);
        assert!(path.starts_with("apps[0].containers"), "{path}");
        assert!(message.contains("unknown field `image`"), "{message}");
        let (_, message) = only(r#""containers": ["app", 7]"#);
        assert!(message.contains("expected a container name"), "{message}");
        let eleven: Vec<String> = (0..11).map(|n| format!("\"c{n}\"")).collect();
        assert!(only(&format!(r#""containers": [{}]"#, eleven.join(", ")))
            .1
            .contains("at most 10"));
    }
}
