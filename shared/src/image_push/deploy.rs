//! Deploys of applications toward one goal: applications of one account and region share
//! their reads (`DescribeServices` beside each index and lease, then the revisions and images of
//! those the records do not answer, beside the leases taken), then each is attempted
//! ([`super::attempt`]).

use futures::stream::{self, StreamExt};

use super::clients::by_reach;
use super::{apply, attempt, observe, plan_app, prefetch, Clients, Goal, Plan, Report};
use crate::input::config::AppConfig;
use crate::job::{Invocation, Settings};
use crate::records::{deploy_id, Trigger};

/// Deploys `apps` toward `goal`: applications of one account and region share their reads;
/// each group runs with its own clients (an assumed role, another region), up to
/// `concurrency` groups at once.
pub(crate) async fn deploy_apps(
    clients: &Clients,
    apps: &[&AppConfig],
    goal: &Goal,
    settings: &Settings,
    invocation: &Invocation,
    trigger: &Trigger,
    dry_run: bool,
) -> Vec<Report> {
    // Express Mode services deploy through their own API, one by one.
    let (express, apps): (Vec<&AppConfig>, Vec<&AppConfig>) = apps.iter().partition(|app| app.express);
    let mut reports = Vec::new();
    for app in express {
        reports.push(Box::pin(super::express::deploy(clients, settings, trigger, goal, app, dry_run)).await);
    }
    let groups = by_reach(clients, &apps).await;
    let deployed = stream::iter(
        // Boxed: a deploy's future is large, and callers nest it (the settle run's template
        // deploys, promotions) on a thread's stack.
        groups.iter().map(|(group_clients, group)| {
            Box::pin(deploy_group(
                group_clients,
                group,
                goal,
                settings,
                invocation,
                trigger,
                dry_run,
            ))
        }),
    )
    .buffered(settings.concurrency.max(1))
    .collect::<Vec<Vec<Report>>>()
    .await;
    reports.extend(deployed.into_iter().flatten());
    reports
}

/// Observes, plans and applies the deploy of applications that share one account and region.
async fn deploy_group(
    clients: &Clients,
    apps: &[&AppConfig],
    goal: &Goal,
    settings: &Settings,
    invocation: &Invocation,
    trigger: &Trigger,
    dry_run: bool,
) -> Vec<Report> {
    // The services and, beside them, what the writes will start from: each application's
    // deploy index and lease (no round trip of their own).
    let observed_at = crate::lease::now_seconds();
    let (services, reads) = tokio::join!(
        observe::observe_services(clients, apps, settings.concurrency),
        prefetch::read(clients, settings, apps, dry_run)
    );
    // A replay the records answer needs no more reads; the others read their task definitions
    // and images, and take their leases beside those reads.
    let mut answered: Vec<Option<(Plan, prefetch::Reads)>> = Vec::new();
    let (mut open_apps, mut open_services, mut open_reads, mut open_runs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((app, service), reads) in apps.iter().zip(services).zip(reads) {
        let found = service.as_ref().ok().and_then(Option::as_ref);
        let (answer, runs) = (
            reads.answer(app, goal, found, &deploy_id(trigger, &app.name)),
            reads.runs(app, found),
        );
        match answer {
            Some(plan) => answered.push(Some((plan, reads))),
            None => {
                answered.push(None);
                open_apps.push(*app);
                open_services.push(service);
                open_reads.push(reads);
                open_runs.push(runs);
            }
        }
    }
    let (mut observations, prefetched) = tokio::join!(
        observe::observe_from_services(
            clients,
            &open_apps,
            goal,
            open_services,
            &open_runs,
            settings.concurrency
        ),
        prefetch::take(
            clients,
            settings,
            &open_apps,
            open_reads,
            goal,
            trigger,
            observed_at,
            dry_run
        )
    );
    if let (Goal::Rollback { revision: None, .. }, Some(store)) = (goal, &settings.records) {
        let indexes: Vec<_> = prefetched
            .iter()
            .map(|p| p.index.as_ref().map(|read| &read.index))
            .collect();
        observe::observe_last_good(clients, store, &open_apps, &indexes, &mut observations).await;
    }
    let mut planned = open_apps
        .iter()
        .zip(observations)
        .zip(prefetched)
        .map(|((app, obs), state)| {
            let plan = match obs {
                Ok(obs) => plan_app(app, goal, &obs, &clients.registry_region),
                Err(err) => Plan::nothing(Report::skipped(
                    app,
                    apply::outcome_of(&err),
                    match &app.role_arn {
                        Some(role) => format!("{err} (acting as {role})"),
                        None => err.to_string(),
                    },
                )),
            };
            (plan, state)
        });
    let work: Vec<(Plan, prefetch::Prefetched)> = answered
        .into_iter()
        .map(|answer| match answer {
            Some((plan, reads)) => (
                plan,
                prefetch::Prefetched {
                    index: reads.index,
                    ..Default::default()
                },
            ),
            None => planned.next().expect("one plan for each application not answered"),
        })
        .collect();
    stream::iter(apps.iter().zip(work).map(|(app, (plan, state))| {
        attempt::attempt(clients, settings, invocation, trigger, goal, app, plan, state, dry_run)
    }))
    .buffered(settings.concurrency.max(1))
    .collect()
    .await
}
