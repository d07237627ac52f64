//! Structured JSON logs for CloudWatch Logs.

/// Installs a JSON `tracing` subscriber (level from `RUST_LOG`, default `info`). Safe to call
/// more than once.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Writes one CloudWatch embedded-metric-format line to stdout (CloudWatch Logs turns it into
/// metrics; no PutMetricData call): `metrics` as `(name, unit)` in `namespace`, under each set of
/// `dimensions`, with their values and the dimensions' values in `fields` (a JSON object).
pub fn emit_metrics(namespace: &str, dimensions: &[&[&str]], metrics: &[(&str, &str)], fields: serde_json::Value) {
    println!("{}", metrics_line(namespace, dimensions, metrics, fields));
}

/// The embedded-metric-format line [`emit_metrics`] writes.
pub fn metrics_line(
    namespace: &str,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
    mut fields: serde_json::Value,
) -> serde_json::Value {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let metrics: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, unit)| serde_json::json!({"Name": name, "Unit": unit}))
        .collect();
    fields["_aws"] = serde_json::json!({
        "Timestamp": timestamp,
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": dimensions,
            "Metrics": metrics,
        }],
    });
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_line_names_its_metrics_dimensions_and_values() {
        let line = metrics_line(
            "EcsDeployer/Deploys",
            &[&["Outcome"][..], &["App", "Outcome"][..]],
            &[("Deploys", "Count")],
            serde_json::json!({"App": "orders", "Outcome": "completed", "Deploys": 1}),
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "EcsDeployer/Deploys");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Outcome"], ["App", "Outcome"]])
        );
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "Deploys", "Unit": "Count"}])
        );
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(
            (line["App"].clone(), line["Deploys"].clone()),
            ("orders".into(), 1.into())
        );
    }
}
