//! `ecs_rates`: an account's raised ECS request quotas, for the pacer (see
//! [`crate::aws::pace`]). Each key names one of ECS's documented buckets; its `burst` and
//! `per_second` replace AWS's defaults for every account and Region the deployer reaches.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Problem;
use crate::aws::pace::{EcsBucket, Rate};
use crate::input::json::deserialize_at;

/// One bucket's raised quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Requests in one burst (the bucket's size).
    pub burst: f64,
    /// Requests a second, sustained (the refill).
    pub per_second: f64,
}

/// The raised quotas, by bucket name (`task_definition_writes`, `service_writes`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EcsRates(pub BTreeMap<String, RateConfig>);

impl EcsRates {
    /// The pacer's limits these quotas set.
    pub fn limits(&self) -> Vec<(EcsBucket, Rate)> {
        self.0
            .iter()
            .filter_map(|(name, rate)| {
                Some((
                    EcsBucket::named(name)?,
                    Rate {
                        burst: rate.burst,
                        per_second: rate.per_second,
                    },
                ))
            })
            .collect()
    }

    /// True when no quota is raised.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads `ecs_rates`, naming each problem by its path.
pub(super) fn parse(value: &serde_json::Value, problems: &mut Vec<Problem>) -> EcsRates {
    let rates: EcsRates = match deserialize_at(value, "ecs_rates") {
        Ok(rates) => rates,
        Err(err) => {
            problems.push(Problem {
                path: err.field,
                message: format!("expected {}", err.expected),
            });
            return EcsRates::default();
        }
    };
    for (name, rate) in &rates.0 {
        let at = format!("ecs_rates.{name}");
        if EcsBucket::named(name).is_none() {
            let names: Vec<&str> = EcsBucket::ALL.iter().map(|b| b.name()).collect();
            problems.push(Problem {
                path: at.clone(),
                message: format!("unknown bucket, expected one of {}", names.join(", ")),
            });
        }
        if !(1.0..=10_000.0).contains(&rate.burst) {
            problems.push(Problem {
                path: format!("{at}.burst"),
                message: format!("expected 1-10000 requests, got {}", rate.burst),
            });
        }
        if !(rate.per_second > 0.0 && rate.per_second <= 10_000.0) {
            problems.push(Problem {
                path: format!("{at}.per_second"),
                message: format!(
                    "expected more than 0 and at most 10000 a second, got {}",
                    rate.per_second
                ),
            });
        }
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_quotas_name_a_bucket_and_sane_rates() {
        let mut problems = Vec::new();
        let rates = parse(
            &serde_json::json!({"task_definition_writes": {"burst": 40, "per_second": 2}}),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rates.limits(),
            vec![(
                EcsBucket::TaskDefinitionWrites,
                Rate {
                    burst: 40.0,
                    per_second: 2.0
                }
            )]
        );
        parse(
            &serde_json::json!({"registers": {"burst": 0, "per_second": -1}}),
            &mut problems,
        );
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "ecs_rates.registers",
                "ecs_rates.registers.burst",
                "ecs_rates.registers.per_second"
            ]
        );
        let mut problems = Vec::new();
        parse(&serde_json::json!({"service_writes": {"burst": 1}}), &mut problems);
        assert!(problems[0].path.starts_with("ecs_rates.service_writes"), "{problems:?}");
        // In a whole document.
        let config = crate::input::config::Config::parse(
            r#"{"apps": [], "ecs_rates": {"tagging": {"burst": 40, "per_second": 20}}}"#,
            "test",
        )
        .unwrap();
        assert_eq!(config.ecs_rates.limits()[0].0, EcsBucket::Tagging);
        let err = crate::input::config::Config::parse(
            r#"{"apps": [], "ecs_rates": {"x": {"burst": 1, "per_second": 1}}}"#,
            "test",
        )
        .unwrap_err();
        assert!(err.to_string().contains("ecs_rates.x"), "{err}");
    }
}
