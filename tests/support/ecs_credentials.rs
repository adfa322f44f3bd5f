//! A double of the ECS container credentials endpoint
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI` on 127.0.0.1:0). Each fetch gets the
//! next credentials of a list (the last one repeats), with an expiry
//! `lifetime` from the moment it is served; every fetch is reported on a
//! channel so tests wait for a refresh instead of sleeping.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub struct Issued {
    pub access_key: String,
    pub secret: String,
    pub token: String,
    pub lifetime: Duration,
}

impl Issued {
    pub fn new(access_key: &str, lifetime: Duration) -> Self {
        Self {
            access_key: access_key.to_owned(),
            secret: format!("{access_key}-secret"),
            token: format!("{access_key}-token"),
            lifetime,
        }
    }
}

#[derive(Clone)]
struct Shared {
    plan: Arc<Mutex<(Vec<Issued>, usize)>>,
    fetched: mpsc::UnboundedSender<String>,
}

pub struct CredentialsEndpoint {
    pub addr: SocketAddr,
    /// The access key served by each fetch, in order.
    pub fetched: mpsc::UnboundedReceiver<String>,
}

impl CredentialsEndpoint {
    pub async fn start(plan: Vec<Issued>) -> std::io::Result<Self> {
        let (fetched_tx, fetched) = mpsc::unbounded_channel();
        let shared = Shared {
            plan: Arc::new(Mutex::new((plan, 0))),
            fetched: fetched_tx,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/credentials", get(serve))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, fetched })
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn full_uri(&self) -> String {
        format!("http://{}/credentials", self.addr)
    }

    /// Waits for the next fetch and returns the access key it served.
    pub async fn next_fetch(&mut self) -> Option<String> {
        tokio::time::timeout(super::DEADLINE, self.fetched.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn serve(State(shared): State<Shared>) -> Json<Value> {
    let issued = {
        let mut plan = shared.plan.lock().unwrap();
        let (list, next) = &mut *plan;
        let issued = list[(*next).min(list.len() - 1)].clone();
        *next += 1;
        issued
    };
    let _ = shared.fetched.send(issued.access_key.clone());
    let expiry = SystemTime::now() + issued.lifetime;
    Json(json!({
        "AccessKeyId": issued.access_key,
        "SecretAccessKey": issued.secret,
        "Token": issued.token,
        "Expiration": rfc3339(expiry),
    }))
}

/// `2026-12-03T17:00:00Z`, the form the ECS agent uses.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}
