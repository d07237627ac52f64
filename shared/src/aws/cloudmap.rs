//! AWS Cloud Map: namespaces and the services applications are discovered by.

use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsConfigChange, DnsRecord, FilterCondition, HealthCheckCustomConfig, RecordType, RoutingPolicy,
    ServiceChange, ServiceFilter, ServiceFilterName,
};

use crate::aws::AwsError;

/// A namespace: ID and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// `ns-...`.
    pub id: String,
    /// DNS name, such as `sss.internal`.
    pub name: String,
    /// `DNS_PRIVATE`, `DNS_PUBLIC` or `HTTP`.
    pub kind: String,
}

/// What the deployer needs to know of a Cloud Map service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudMapService {
    /// `srv-...`.
    pub id: String,
    /// Service ARN (the HTTP API integration's URI).
    pub arn: String,
    /// Service name.
    pub name: String,
    /// Namespace ID.
    pub namespace_id: String,
    /// DNS record type (`SRV`, `A`), if it has DNS records.
    pub record_type: Option<String>,
    /// DNS TTL, if it has DNS records.
    pub ttl: Option<i64>,
    /// True when it has a custom health check (`HealthCheckCustomConfig` is present; its
    /// `FailureThreshold` is deprecated, "no longer supported", and may be absent).
    pub custom_health_check: bool,
}

/// The Cloud Map service the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// Namespace ID.
    pub namespace_id: String,
    /// Service name.
    pub name: String,
    /// `SRV` or `A`.
    pub record_type: String,
    /// DNS TTL.
    pub ttl: i64,
    /// Custom health check failure threshold.
    pub failure_threshold: i32,
}

/// The namespace a configuration names, by ID (`ns-...`) or DNS name (a trailing dot allowed).
pub fn find_namespace<'a>(namespaces: &'a [Namespace], configured: &str) -> Option<&'a Namespace> {
    namespaces
        .iter()
        .find(|ns| ns.id == configured || ns.name == configured.trim_end_matches('.'))
}

/// Every namespace of the account and region.
pub async fn list_namespaces(client: &aws_sdk_servicediscovery::Client) -> Result<Vec<Namespace>, AwsError> {
    let mut pages = client.list_namespaces().into_paginator().send();
    let mut namespaces = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ServiceDiscovery", "ListNamespaces", "*", e))?;
        for ns in page.namespaces() {
            if let (Some(id), Some(name)) = (ns.id(), ns.name()) {
                namespaces.push(Namespace {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    kind: ns.r#type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                });
            }
        }
    }
    Ok(namespaces)
}

/// The services of one namespace.
#[allow(deprecated)] // DnsConfig.NamespaceId: read only when the answer carries it
pub async fn list_services(
    client: &aws_sdk_servicediscovery::Client,
    namespace_id: &str,
) -> Result<Vec<CloudMapService>, AwsError> {
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(namespace_id)
        .condition(FilterCondition::Eq)
        .build()
        .expect("name and values are set");
    let mut pages = client.list_services().filters(filter).into_paginator().send();
    let mut services = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ServiceDiscovery", "ListServices", namespace_id, e))?;
        for s in page.services() {
            let dns = s.dns_config();
            let record = dns.and_then(|d| d.dns_records().first());
            services.push(CloudMapService {
                id: s.id().unwrap_or_default().to_owned(),
                arn: s.arn().unwrap_or_default().to_owned(),
                name: s.name().unwrap_or_default().to_owned(),
                namespace_id: dns.and_then(|d| d.namespace_id()).unwrap_or(namespace_id).to_owned(),
                record_type: record.map(|r| r.r#type().as_str().to_owned()),
                ttl: record.map(|r| r.ttl()),
                custom_health_check: s.health_check_custom_config().is_some(),
            });
        }
    }
    Ok(services)
}

fn dns_record(record_type: &str, ttl: i64) -> DnsRecord {
    DnsRecord::builder()
        .r#type(RecordType::from(record_type))
        .ttl(ttl)
        .build()
        .expect("type and TTL are set")
}

/// Creates the service with MULTIVALUE DNS records and a custom health check.
#[allow(deprecated)] // AWS now fixes the custom failure threshold at 1; it is still sent as configured
pub async fn create_service(
    client: &aws_sdk_servicediscovery::Client,
    desired: &DesiredService,
) -> Result<CloudMapService, AwsError> {
    let dns = DnsConfig::builder()
        .routing_policy(RoutingPolicy::Multivalue)
        .dns_records(dns_record(&desired.record_type, desired.ttl))
        .build()
        .expect("records are set");
    let output = crate::aws::at_most_once(|| {
        client
            .create_service()
            .name(&desired.name)
            .namespace_id(&desired.namespace_id)
            .description("managed by ecs-deployer")
            .dns_config(dns.clone())
            .health_check_custom_config(
                HealthCheckCustomConfig::builder()
                    .failure_threshold(desired.failure_threshold)
                    .build(),
            )
            .customize()
            .config_override(
                aws_sdk_servicediscovery::config::Builder::default().retry_config(crate::aws::no_retries()),
            )
            .send()
    })
    .await
    .map_err(|e| AwsError::from_sdk("ServiceDiscovery", "CreateService", &desired.name, e))?;
    let service = output.service().ok_or_else(|| AwsError {
        service: "ServiceDiscovery",
        transient: false,
        operation: "CreateService",
        resource: desired.name.clone(),
        code: None,
        message: "the answer held no service".into(),
    })?;
    Ok(CloudMapService {
        id: service.id().unwrap_or_default().to_owned(),
        arn: service.arn().unwrap_or_default().to_owned(),
        name: desired.name.clone(),
        namespace_id: desired.namespace_id.clone(),
        record_type: Some(desired.record_type.clone()),
        ttl: Some(desired.ttl),
        custom_health_check: true,
    })
}

/// Changes the TTL of the service's DNS records (the one DNS setting that can change in place).
pub async fn update_ttl(
    client: &aws_sdk_servicediscovery::Client,
    service_id: &str,
    record_type: &str,
    ttl: i64,
) -> Result<(), AwsError> {
    let change = ServiceChange::builder()
        .dns_config(
            DnsConfigChange::builder()
                .dns_records(dns_record(record_type, ttl))
                .build()
                .expect("records are set"),
        )
        .build();
    client
        .update_service()
        .id(service_id)
        .service(change)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ServiceDiscovery", "UpdateService", service_id, e))?;
    Ok(())
}
