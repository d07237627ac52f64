//! Grants no recorded call shows: actions AWS authorizes as part of another call, and those a
//! documented path needs.

/// Actions a function needs besides the one named by a call, because AWS authorizes them as
/// part of that call.
pub(super) const IMPLIED: &[(&str, &str, &str)] = &[
    (
        "ecs:RegisterTaskDefinition",
        "ecs:TagResource",
        "revisions are registered with tags: ECS authorizes tag-on-create as ecs:TagResource",
    ),
    (
        "ecs:RegisterTaskDefinition",
        "iam:PassRole",
        "a revision with a task or execution role passes that role to ECS",
    ),
    (
        "ecs:RunTask",
        "iam:PassRole",
        "a task run of a revision with a task or execution role passes that role to ECS",
    ),
    (
        "events:PutTargets",
        "iam:PassRole",
        "a target with a RoleArn passes that role to EventBridge",
    ),
    (
        "scheduler:UpdateSchedule",
        "iam:PassRole",
        "a schedule's target passes its RoleArn to EventBridge Scheduler",
    ),
];

/// Grants no call names but a documented path needs, per function.
pub const DOCUMENTED: &[(&str, &str, &str)] = &[
    (
        "nlb-sync",
        "s3:ListBucket",
        "without it S3 answers AccessDenied instead of NoSuchKey for a state object not written yet",
    ),
    (
        "image-push",
        "s3:ListBucket",
        "without it S3 answers AccessDenied instead of NoSuchKey for a lease not written yet",
    ),
    (
        "service-sync",
        "s3:ListBucket",
        "without it S3 answers AccessDenied instead of NoSuchKey for a lease or record not written yet",
    ),
    // A fan-out through the deploy queue may hold an Express Mode service (`express`); the
    // tests deploy those from image-push only.
    (
        "deploy-worker",
        "ecs:DescribeExpressGatewayService",
        "a queued deploy of an Express Mode service reads it (tested through image-push)",
    ),
    (
        "deploy-worker",
        "ecs:UpdateExpressGatewayService",
        "a queued deploy of an Express Mode service updates it (tested through image-push)",
    ),
    // A fan-out through the deploy queue may hold an application that is only scheduled tasks
    // (no `service`); the tests deploy those from image-push only.
    (
        "deploy-worker",
        "events:ListTargetsByRule",
        "a queued deploy of scheduled tasks alone reads their rules (tested through image-push)",
    ),
    (
        "deploy-worker",
        "events:PutTargets",
        "a queued deploy of scheduled tasks alone moves their rules' targets (tested through image-push)",
    ),
    (
        "deploy-worker",
        "scheduler:GetSchedule",
        "a queued deploy of scheduled tasks alone reads their schedules (tested through image-push)",
    ),
    (
        "deploy-worker",
        "scheduler:UpdateSchedule",
        "a queued deploy of scheduled tasks alone moves their schedules (tested through image-push)",
    ),
    // S3 decrypts an SSE-KMS configuration object with the caller's kms:Decrypt (the call the
    // function makes is GetObject; the emulator does not encrypt, so no test sees it).
    (
        "image-push",
        "kms:Decrypt",
        "S3 GetObject of an SSE-KMS configuration object (ConfigKmsKeyArn)",
    ),
    (
        "service-sync",
        "kms:Decrypt",
        "S3 GetObject of an SSE-KMS configuration object (ConfigKmsKeyArn)",
    ),
    (
        "nlb-sync",
        "kms:Decrypt",
        "S3 GetObject of an SSE-KMS configuration object (ConfigKmsKeyArn)",
    ),
    (
        "deploy-worker",
        "kms:Decrypt",
        "S3 GetObject of an SSE-KMS configuration object (ConfigKmsKeyArn)",
    ),
    (
        "deploy-worker",
        "s3:ListBucket",
        "without it S3 answers AccessDenied instead of NoSuchKey for a lease or record not written yet",
    ),
    // The worker deploys exactly as image-push does (the same code path, `deploy_apps`), whose
    // deploys into other accounts tests/integration/accounts.rs records.
    (
        "deploy-worker",
        "sts:AssumeRole",
        "queued deploys of applications in other accounts act through their role_arn, as image-push's do",
    ),
    (
        "deploy-worker",
        "sts:SetSourceIdentity",
        "with `source_identity`, queued deploys' sessions carry ecs-deployer.<app>, as image-push's do",
    ),
    // Lambda's SQS event source mapping polls the queue with the function's role: the function
    // itself makes none of these calls (the test kit's player makes them in its place).
    (
        "deploy-worker",
        "sqs:ReceiveMessage",
        "the event source mapping receives batches",
    ),
    (
        "deploy-worker",
        "sqs:DeleteMessage",
        "the event source mapping deletes what the batch did",
    ),
    (
        "deploy-worker",
        "sqs:ChangeMessageVisibility",
        "the event source mapping hands back what the partial batch response names",
    ),
    (
        "deploy-worker",
        "sqs:GetQueueAttributes",
        "the event source mapping reads the queue's settings",
    ),
];
