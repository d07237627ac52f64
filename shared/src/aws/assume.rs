//! Credentials of an assumed role whose session carries a `SourceIdentity` (CloudTrail in the
//! role's account then names it on every call, and it survives role chaining). aws-config's
//! assume-role provider cannot set one; this provider calls STS `AssumeRole` itself. The SDK
//! client's identity cache keeps the credentials until shortly before they expire, so STS is
//! asked once per session length, not per call. The role's trust policy must allow
//! `sts:SetSourceIdentity` as well as `sts:AssumeRole`.

use std::time::SystemTime;

use aws_credential_types::provider::{self, error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;

/// The longest `SourceIdentity` STS accepts.
pub const SOURCE_IDENTITY_MAX: usize = 64;

/// `text` as a valid `SourceIdentity`: the characters STS allows (letters, digits and
/// `+=,.@-_`), others replaced by `-`, at most 64 of them.
pub fn source_identity(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(SOURCE_IDENTITY_MAX)
        .collect()
}

/// Assumes `role` with a session name and a source identity.
#[derive(Debug)]
pub struct AssumeWithSourceIdentity {
    /// STS, called with the function's own credentials.
    pub sts: aws_sdk_sts::Client,
    /// The role's ARN.
    pub role: String,
    /// The session name (at most 64 characters).
    pub session: String,
    /// The role's external id, if it asks for one.
    pub external_id: Option<String>,
    /// What the role's account sees as the session's source identity.
    pub source_identity: String,
}

impl AssumeWithSourceIdentity {
    async fn assume(&self) -> provider::Result {
        let answer = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .role_session_name(&self.session)
            .set_external_id(self.external_id.clone())
            .source_identity(&self.source_identity)
            .send()
            .await
            .map_err(CredentialsError::provider_error)?;
        let credentials = answer
            .credentials()
            .ok_or_else(|| CredentialsError::invalid_configuration("AssumeRole answered no credentials"))?;
        let expires = SystemTime::try_from(*credentials.expiration()).ok();
        Ok(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            expires,
            "AssumeRoleWithSourceIdentity",
        ))
    }
}

impl ProvideCredentials for AssumeWithSourceIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// A provider that asks `inner` once and keeps the credentials until 5 minutes before they
/// expire. Every client made from one configuration shares it: the SDK's clients (each behind
/// the configuration's identity cache) and [`super::ec2::Ec2Client`] (which signs its own
/// requests), so a role is assumed once, not once a client.
#[derive(Debug)]
pub struct Kept {
    inner: provider::SharedCredentialsProvider,
    kept: tokio::sync::Mutex<Option<Credentials>>,
}

impl Kept {
    /// Keeps what `inner` provides.
    pub fn new(inner: provider::SharedCredentialsProvider) -> Self {
        Kept {
            inner,
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> provider::Result {
        let mut kept = self.kept.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + std::time::Duration::from_secs(300))
        };
        if let Some(credentials) = kept.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self.inner.provide_credentials().await?;
        *kept = Some(credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for Kept {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_identity_keeps_only_what_sts_accepts() {
        assert_eq!(source_identity("ecs-deployer.checkout_v2"), "ecs-deployer.checkout_v2");
        assert_eq!(source_identity("ecs deployer/app:1"), "ecs-deployer-app-1");
        assert_eq!(source_identity(&"a".repeat(100)).len(), SOURCE_IDENTITY_MAX);
    }
}
