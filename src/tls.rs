//! One TLS configuration for every reqwest client (the upstream call, the
//! span and metric exporters): rustls on ring, verified by the platform
//! verifier against the system's root certificates, loaded once per process
//! at the first HTTPS handshake.
//!
//! reqwest loads and parses the system's roots (about 140 certificates)
//! every time a client is built; with three clients that was most of the
//! start-up and Lambda init time, spent even when every endpoint is plain
//! HTTP (a collector on localhost). Verification itself is unchanged: the
//! same `rustls-platform-verifier` reqwest uses, only built on first use.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use rustls_platform_verifier::Verifier;

/// The rustls configuration every client shares (cheap to clone).
pub fn client_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                // Not a bypass: the platform verifier, constructed on first use.
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LazyVerifier::new(provider)))
                .with_no_client_auth()
        })
        .clone()
}

/// A blocking client for an OTLP exporter. Built on a thread of its own: the
/// blocking client starts a runtime, which cannot be built on a runtime thread.
pub fn blocking_client(timeout: Duration) -> std::io::Result<reqwest::blocking::Client> {
    std::thread::Builder::new()
        .name("otel-http-init".into())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .tls_backend_preconfigured(client_config())
                .timeout(timeout)
                .build()
        })?
        .join()
        .map_err(|_| std::io::Error::other("building the HTTP client panicked"))?
        .map_err(std::io::Error::other)
}

/// The platform verifier, made at the first handshake that needs it.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // Asked for the ClientHello, before any certificate: the provider's
        // schemes, which are what the platform verifier answers too.
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_not_loaded_until_a_handshake_needs_them() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let lazy = LazyVerifier::new(Arc::clone(&provider));
        assert!(!lazy.supported_verify_schemes().is_empty());
        assert!(lazy.verifier.get().is_none());
        // A certificate no root signed is refused, after loading the roots.
        let bogus = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let name = ServerName::try_from("example.com").unwrap();
        assert!(
            lazy.verify_server_cert(&bogus, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        assert!(lazy.verifier.get().is_some());
    }
}
