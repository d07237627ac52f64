//! Every test has an emulator of its own. Ports are found free, released, then bound by the
//! child, so two tests starting at once can be told the same port: the second child then fails
//! to bind, but until it exits the first one's server answers on that port. Taking that answer
//! for its own put two tests on one emulator, each recording the other's calls (a CI run failed
//! two call-counting tests that way).

use deployer_devkit::emulator::Emulator;

#[tokio::test]
async fn an_emulator_never_takes_another_tests_server_for_its_own() {
    let first = Emulator::start();
    assert!(
        Emulator::start_on(first.port).is_none(),
        "a second emulator told the port of the first must not start"
    );
    // The first is untouched and still answers.
    let clients = first.clients().await;
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty());
}
