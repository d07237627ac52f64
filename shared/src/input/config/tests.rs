//! Parsing and validation of whole documents.

use super::*;

const GOOD: &str = r#"{
  "apps": [{
    "name": "orders", "cluster": "sss", "service": "orders", "container": "app",
    "repository": "orders", "tags": ["latest", "release-*"], "circuit_breaker": true,
    "cloud_map": {"namespace": "sss.internal", "service": "orders", "port": 8080},
    "api": {"api_id": "a1b2c3d4", "vpc_link_id": "vl1234", "authorizer_id": "au5678", "methods": ["GET", "POST"]}
  }],
  "nlb": {"state_bucket": "deployer-state", "target_groups": [{
    "target_group_arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/nlb-443/abc",
    "alb_dns_name": "internal-api-123.ap-northeast-1.elb.amazonaws.com", "port": 443}]}
}"#;

pub(super) fn paths(err: ConfigError) -> Vec<String> {
    err.problems.into_iter().map(|p| p.path).collect()
}

#[test]
fn a_good_document_parses_with_defaults() {
    let config = Config::parse(GOOD, "test").unwrap();
    let app = &config.apps[0];
    assert!(app.circuit_breaker);
    assert_eq!(app.keep_revisions, 10);
    let cloud_map = app.cloud_map.as_ref().unwrap();
    assert_eq!(
        (
            cloud_map.record_type.as_str(),
            cloud_map.ttl,
            cloud_map.failure_threshold
        ),
        ("SRV", 300, 1)
    );
    assert_eq!(app.api.as_ref().unwrap().path, "/{proxy+}");
    let nlb = config.nlb.unwrap();
    assert_eq!(
        (
            nlb.lookups_per_run,
            nlb.missing_runs_before_deregister,
            nlb.max_deregister_share
        ),
        (50, 3, 0.5)
    );
    assert!(nlb.target_groups[0].same_vpc);
    assert!(app.follows_tag("release-7") && !app.follows_tag("dev"));
}

#[test]
fn every_problem_is_listed_by_path() {
    let bad = r#"{
      "apps": [
        {"name": "orders", "cluster": "sss", "service": "orders", "container": "app",
         "repository": "Orders", "tags": [], "keep_revisions": 0,
         "cloud_map": {"namespace": "sss_internal", "service": "orders", "port": 70000}},
        {"name": "orders", "cluster": "sss", "service": "orders", "container": "app",
         "repository": "orders", "tags": ["bad tag"]},
        {"name": "x", "cluster": "sss", "service": "x", "container": "app", "repository": "x", "tags": "latest"}
      ],
      "extra": 1
    }"#;
    let err = Config::parse(bad, "test").unwrap_err();
    let text = err.to_string();
    let paths = paths(err);
    for expected in [
        "extra",
        "apps[2].tags",
        "apps[0].repository",
        "apps[0].tags",
        "apps[0].keep_revisions",
        "apps[0].cloud_map.namespace",
        "apps[0].cloud_map.port",
        "apps[1].name",
        "apps[1].service",
        "apps[1].tags[0]",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
    }
    assert!(text.contains("`sss_internal` is not a valid DNS name"), "{text}");
}

#[test]
fn unknown_fields_and_bad_json_are_named() {
    let err = Config::parse(r#"{"apps": [{"name": "a", "clster": "x"}]}"#, "test").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(err.problems[0].message.contains("unknown field `clster`"), "{err}");
    let err = Config::parse("{\"apps\": [", "DEPLOYER_CONFIG").unwrap_err();
    assert_eq!(paths(err.clone()), vec!["$"]);
    assert!(err.to_string().contains("DEPLOYER_CONFIG"));
    assert_eq!(paths(Config::parse("[]", "t").unwrap_err()), vec!["$"]);
    assert_eq!(paths(Config::parse("{}", "t").unwrap_err()), vec!["apps"]);
}

#[test]
fn api_and_nlb_values_are_checked() {
    let bad = r#"{"apps": [{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "a",
        "tags": ["latest"], "api": {"api_id": "a-1", "vpc_link_id": "v", "methods": ["GET", "GET", "FETCH"], "path": "x"}}],
      "nlb": {"state_bucket": "B", "max_deregister_share": 1.5, "dns_servers": ["nowhere"],
        "target_groups": [{"target_group_arn": "tg", "alb_dns_name": "bad_name", "port": 0}]}}"#;
    let paths = paths(Config::parse(bad, "t").unwrap_err());
    for expected in [
        "apps[0].api.api_id",
        "apps[0].api.methods[1]",
        "apps[0].api.methods[2]",
        "apps[0].api.path",
        "nlb.state_bucket",
        "nlb.max_deregister_share",
        "nlb.dns_servers[0]",
        "nlb.target_groups[0].target_group_arn",
        "nlb.target_groups[0].alb_dns_name",
        "nlb.target_groups[0].port",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
    }
}

#[test]
fn dns_names_reject_underscores_and_bad_labels() {
    assert!(is_dns_name("sss.internal"));
    assert!(is_dns_name("a-b.c."));
    assert!(!is_dns_name("sss_internal"));
    assert!(!is_dns_name("-a.b"));
    assert!(!is_dns_name("a..b"));
    assert!(!is_dns_name(""));
}

#[test]
fn two_entries_may_not_claim_one_resource_and_both_are_named() {
    let doc = r#"{"apps": [
        {"name": "orders", "cluster": "sss", "service": "orders", "container": "app", "repository": "orders",
         "tags": ["latest"], "cloud_map": {"namespace": "sss.internal", "service": "orders", "port": 8080},
         "api": {"api_id": "api1", "vpc_link_id": "vl1", "methods": ["GET", "POST"]}},
        {"name": "orders-v2", "cluster": "arn:aws:ecs:ap-northeast-1:123456789012:cluster/sss",
         "service": "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders", "container": "app",
         "repository": "orders", "tags": ["latest"],
         "cloud_map": {"namespace": "SSS.internal", "service": "Orders", "port": 8080, "failure_threshold": 3},
         "api": {"api_id": "api1", "vpc_link_id": "vl1", "methods": ["PUT", "POST", "POST"]}}
      ],
      "nlb": {"state_bucket": "deployer-state", "target_groups": [
        {"target_group_arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/t/1", "alb_dns_name": "a.example.com", "port": 80},
        {"target_group_arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/t/1", "alb_dns_name": "b.example.com", "port": 80}
      ]}}"#;
    let err = Config::parse(doc, "t").unwrap_err();
    let find = |path: &str| {
        err.problems
            .iter()
            .filter(|p| p.path == path)
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
    };
    let service = find("apps[1].service");
    assert_eq!(service.len(), 1, "{err}");
    assert!(
        service[0].contains("apps[0].service (app `orders`)")
            && service[0].contains("apps[1].service (app `orders-v2`)"),
        "{}",
        service[0]
    );
    let cloud_map = find("apps[1].cloud_map.service");
    assert!(
        cloud_map.len() == 1 && cloud_map[0].contains("Cloud Map service `orders` in namespace `sss.internal`"),
        "{err}"
    );
    let route = find("apps[1].api.methods[1]");
    assert!(
        route.len() == 1
            && route[0].contains("route `POST /{proxy+}` of API api1")
            && route[0].contains("apps[0].api.methods[1]"),
        "{err}"
    );
    assert!(find("apps[1].api.methods[0]").is_empty(), "PUT is claimed once: {err}");
    assert_eq!(
        find("apps[1].api.methods[2]"),
        vec!["duplicate method `POST`".to_string()]
    );
    let group = find("nlb.target_groups[1].target_group_arn");
    assert!(
        group.len() == 1
            && group[0].contains("nlb.target_groups[0].target_group_arn and by nlb.target_groups[1].target_group_arn"),
        "{err}"
    );
    assert!(
        find("apps[1].cloud_map.failure_threshold")[0].contains("expected 1, got 3"),
        "{err}"
    );
}

#[test]
fn a_repository_uri_names_its_registry() {
    let parse = |repository: &str, extra: &str| {
        Config::parse(
            &format!(
                r#"{{"apps": [{{"name": "a", "cluster": "c", "service": "a", "container": "app", "tags": ["latest"],
                "repository": "{repository}"{extra}}}]}}"#
            ),
            "test",
        )
    };
    let config = parse("333333333333.dkr.ecr.eu-west-1.amazonaws.com/team/web", "").unwrap();
    let app = &config.apps[0];
    assert_eq!(
        (
            app.repository.as_str(),
            app.registry_id.as_deref(),
            app.registry_region.as_deref()
        ),
        ("team/web", Some("333333333333"), Some("eu-west-1"))
    );
    let err = parse(
        "333333333333.dkr.ecr.eu-west-1.amazonaws.com/web",
        r#", "registry_id": "444444444444""#,
    )
    .unwrap_err();
    assert_eq!(err.problems[0].path, "apps[0].repository", "{err}");
    assert!(
        err.problems[0].message.contains("disagrees with `registry_id`"),
        "{err}"
    );
    let err = parse("web", r#", "registry_id": "12", "registry_role_arn": "nope""#).unwrap_err();
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["apps[0].registry_id", "apps[0].registry_role_arn"], "{err}");
}

#[test]
fn promotion_chains_must_name_known_apps_of_one_repository_and_never_cycle() {
    let app = |name: &str, from: Option<&str>, repository: &str| {
        let mut app = serde_json::json!({"name": name, "cluster": "c", "service": name, "container": "app",
            "repository": repository});
        match from {
            Some(from) => app["promote_from"] = from.into(),
            None => app["tags"] = serde_json::json!(["latest"]),
        }
        app
    };
    let parse = |apps: Vec<serde_json::Value>| Config::parse(&serde_json::json!({ "apps": apps }).to_string(), "test");
    // dev -> staging -> prod: fine, with a soak and an approval on prod.
    let mut prod = app("prod", Some("staging"), "web");
    prod["promotion"] = serde_json::json!({"soak_minutes": 30, "approval": "manual"});
    let config = parse(vec![app("dev", None, "web"), app("staging", Some("dev"), "web"), prod]).unwrap();
    let promotion = config.app("prod").unwrap().promotion();
    assert_eq!(
        (promotion.policy(), promotion.soak_minutes, promotion.approval),
        (PromotionPolicy::Auto, 30, Some(Approval::Manual))
    );

    let err = parse(vec![
        app("a", Some("b"), "web"),
        app("b", Some("a"), "web"),
        app("c", Some("a"), "web"),
        app("d", Some("nobody"), "web"),
        app("e", Some("f"), "api"),
        app("f", None, "web"),
    ])
    .unwrap_err();
    let at = |path: &str| -> Vec<String> {
        err.problems
            .iter()
            .filter(|p| p.path == path)
            .map(|p| p.message.clone())
            .collect()
    };
    assert_eq!(
        at("apps[0].promote_from"),
        vec!["expected no promotion cycle, got a <- b <- a (each promoted from the next)".to_string()],
        "{err}"
    );
    assert!(
        at("apps[1].promote_from").is_empty(),
        "one cycle is reported once: {err}"
    );
    assert!(at("apps[2].promote_from").is_empty(), "{err}");
    assert!(at("apps[3].promote_from")[0].contains("got `nobody`"), "{err}");
    assert!(at("apps[4].promote_from")[0].contains("same repository"), "{err}");

    // A promoted app follows no tags; `promotion` needs `promote_from`.
    let mut tagged = app("prod", Some("dev"), "web");
    tagged["tags"] = serde_json::json!(["latest"]);
    let mut stray = app("other", None, "web");
    stray["promotion"] = serde_json::json!({"policy": "manual"});
    let err = parse(vec![app("dev", None, "web"), tagged, stray]).unwrap_err();
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["apps[1].tags", "apps[2].promotion"], "{err}");
}

#[test]
fn tag_patterns_that_match_only_the_deployers_own_tags_are_refused() {
    for (pattern, refused) in [
        ("live-*", true),
        ("prev-orders", true),
        ("*", false),
        ("l*", false),
        ("release-*", false),
    ] {
        let doc = GOOD.replace(
            r#""tags": ["latest", "release-*"]"#,
            &format!(r#""tags": ["latest", "{pattern}"]"#),
        );
        match Config::parse(&doc, "test") {
            Ok(_) => assert!(!refused, "{pattern} must be refused"),
            Err(err) => {
                assert!(refused, "{pattern}: {err}");
                assert_eq!(paths(err.clone()), vec!["apps[0].tags[1]"], "{pattern}");
                assert!(err.to_string().contains("the deployer's own"), "{err}");
            }
        }
    }
}

#[test]
fn a_records_with_an_api_are_refused() {
    let doc = GOOD.replace(r#""port": 8080}"#, r#""port": 8080, "record_type": "A"}"#);
    let err = Config::parse(&doc, "test").unwrap_err();
    assert_eq!(paths(err.clone()), vec!["apps[0].cloud_map.record_type"]);
    assert!(err.to_string().contains("needs SRV records"), "{err}");
}

#[test]
fn base_and_on_template_change_take_their_words_and_name_a_wrong_one() {
    let app = |extra: &str| {
        format!(
            r#"{{"apps": [{{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders",
            "tags": ["latest"]{extra}}}]}}"#
        )
    };
    let config = Config::parse(&app(""), "test").unwrap();
    assert_eq!(
        (config.apps[0].base, config.apps[0].on_template_change),
        (Base::Template, OnTemplateChange::Notify)
    );
    let config = Config::parse(&app(r#", "base": "running", "on_template_change": "deploy""#), "test").unwrap();
    assert_eq!(
        (config.apps[0].base, config.apps[0].on_template_change),
        (Base::Running, OnTemplateChange::Deploy)
    );
    let err = Config::parse(&app(r#", "base": "terraform""#), "test").unwrap_err();
    assert_eq!(paths(err), ["apps[0].base"]);
    let err = Config::parse(&app(r#", "on_template_change": "ignore""#), "test").unwrap_err();
    assert_eq!(paths(err), ["apps[0].on_template_change"]);
}

#[test]
fn a_route_is_opened_only_by_an_authorization_of_none_written_out() {
    let with_api = |api: &str| GOOD.replace(r#""authorizer_id": "au5678", "#, api);
    let problem = |doc: String| {
        let err = Config::parse(&doc, "t").unwrap_err();
        let problem = err.problems.into_iter().next().unwrap();
        (problem.path, problem.message)
    };
    // No authorizer and nothing said: refused, naming the way to open it on purpose.
    let (path, message) = problem(with_api(""));
    assert_eq!(path, "apps[0].api.authorizer_id");
    assert!(message.contains(r#""authorization": "NONE""#), "{message}");
    // Said outright: open routes.
    let open = Config::parse(&with_api(r#""authorization": "NONE", "#), "t").unwrap();
    assert_eq!(open.apps[0].api.as_ref().unwrap().authorizer_id, None);
    // Contradictions and unknown words are named.
    let (path, _) = problem(with_api(r#""authorizer_id": "au5678", "authorization": "NONE", "#));
    assert_eq!(path, "apps[0].api.authorization");
    let (path, _) = problem(with_api(r#""authorization": "IAM", "#));
    assert_eq!(path, "apps[0].api.authorization");
    assert!(Config::parse(&with_api(r#""authorizer_id": "au5678", "authorization": "JWT", "#), "t").is_ok());
}

#[test]
fn a_promotion_into_production_or_another_account_must_be_gated_or_say_auto() {
    let parse = |prod_extra: serde_json::Value| {
        let mut prod = serde_json::json!({"name": "prod", "cluster": "c", "service": "prod", "container": "app",
            "repository": "web", "promote_from": "staging"});
        prod.as_object_mut()
            .unwrap()
            .extend(prod_extra.as_object().unwrap().clone());
        let staging = serde_json::json!({"name": "staging", "cluster": "c", "service": "staging", "container": "app",
            "repository": "web", "tags": ["latest"]});
        Config::parse(&serde_json::json!({ "apps": [staging, prod] }).to_string(), "test")
    };
    let role = "arn:aws:iam::222222222222:role/deployer";
    // Same account, not production: at once, as before.
    assert!(parse(serde_json::json!({})).is_ok());
    // Another account, or marked production, with nothing said: refused, naming why.
    for extra in [
        serde_json::json!({"role_arn": role}),
        serde_json::json!({"production": true}),
    ] {
        let err = parse(extra).unwrap_err();
        assert_eq!(err.problems[0].path, "apps[1].promotion", "{err}");
        assert!(err.problems[0].message.contains(r#"policy: "auto""#), "{err}");
    }
    assert!(parse(serde_json::json!({"role_arn": role})).unwrap_err().problems[0]
        .message
        .contains("account 222222222222"));
    // A gate, or auto written out, is accepted.
    for promotion in [
        serde_json::json!({"approval": "manual"}),
        serde_json::json!({"soak_minutes": 30}),
        serde_json::json!({"policy": "manual"}),
        serde_json::json!({"policy": "auto"}),
    ] {
        assert!(parse(serde_json::json!({"role_arn": role, "production": true, "promotion": promotion})).is_ok());
    }
}

/// A document of one application, with `extra` top-level fields (`, "key": value`).
fn one_app_and(extra: &str) -> String {
    format!(
        r#"{{"apps": [{{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders",
        "tags": ["latest"]}}]{extra}}}"#
    )
}

#[test]
fn image_tags_take_per_app_or_per_image_and_name_a_wrong_word() {
    assert_eq!(
        Config::parse(&one_app_and(""), "test").unwrap().image_tags,
        ImageTags::PerApp
    );
    let config = Config::parse(&one_app_and(r#", "image_tags": "per-image""#), "test").unwrap();
    assert_eq!(config.image_tags, ImageTags::PerImage);
    for wrong in [r#""per-repo""#, "true"] {
        let err = Config::parse(&one_app_and(&format!(r#", "image_tags": {wrong}"#)), "test").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err:?}");
        assert_eq!(err.problems[0].path, "image_tags");
        assert!(err.problems[0].message.contains("\"per-image\""), "{err:?}");
    }
}

#[test]
fn approvers_are_iam_role_or_user_arns_named_by_position() {
    let config = Config::parse(&one_app_and(""), "test").unwrap();
    assert!(config.approvers.is_empty() && config.approver_not_asker);
    let config = Config::parse(
        &one_app_and(r#", "approvers": ["arn:aws:iam::123456789012:role/teams/Approver", "arn:aws:iam::123456789012:user/bob"], "approver_not_asker": false"#),
        "test",
    )
    .unwrap();
    assert_eq!(config.approvers.len(), 2);
    assert!(!config.approver_not_asker);
    let err = Config::parse(
        &one_app_and(r#", "approvers": ["arn:aws:iam::123456789012:role/Approver", "bob", "arn:aws:sts::123456789012:assumed-role/A/s", "arn:aws:iam::1:role/x"]"#),
        "test",
    )
    .unwrap_err();
    assert_eq!(paths(err), ["approvers[1]", "approvers[2]", "approvers[3]"]);
    let err = Config::parse(
        &one_app_and(r#", "approvers": "arn:aws:iam::123456789012:role/A""#),
        "test",
    )
    .unwrap_err();
    assert_eq!(paths(err), ["approvers"]);
}

#[test]
fn source_identity_is_a_document_switch_every_application_follows() {
    let config = Config::parse(&one_app_and(""), "test").unwrap();
    assert!(!config.source_identity && config.apps[0].source_identity().is_none());
    let config = Config::parse(&one_app_and(r#", "source_identity": true"#), "test").unwrap();
    let app = &config.apps[0];
    assert_eq!(app.source_identity(), Some(format!("ecs-deployer.{}", app.name)));
    let err = Config::parse(&one_app_and(r#", "source_identity": "yes""#), "test").unwrap_err();
    assert_eq!(paths(err), ["source_identity"]);
    // Not an application's field: the switch is the document's.
    let mut document: serde_json::Value = serde_json::from_str(&one_app_and("")).unwrap();
    document["apps"][0]["assume_with_source_identity"] = serde_json::json!(true);
    assert!(Config::parse(&document.to_string(), "test").is_err());
}
