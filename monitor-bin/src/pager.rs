//! PagerDuty Events API v2: trigger or resolve one incident per check.

use std::time::Duration;

use serde_json::json;

use crate::checks::CheckResult;

/// Why an event could not be delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PagerError {
    /// PagerDuty refused the event as invalid (400): the routing key or URL is wrong.
    #[error("PagerDuty at {url} rejected the event as invalid (400): {body}; check PAGERDUTY_ROUTING_KEY and PAGERDUTY_URL")]
    Rejected {
        /// The endpoint.
        url: String,
        /// PagerDuty's answer.
        body: String,
    },
    /// The event could not be delivered after retries.
    #[error("could not deliver the event to {url}: {reason}")]
    Failed {
        /// The endpoint.
        url: String,
        /// The last answer or transport error.
        reason: String,
    },
}

/// Sends events, or prints them when no routing key is configured.
pub(crate) struct Pager {
    url: String,
    routing_key: Option<String>,
    client: reqwest::blocking::Client,
}

const ATTEMPTS: u32 = 4;

impl Pager {
    pub(crate) fn new(url: String, routing_key: Option<String>) -> Pager {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Pager { url, routing_key, client }
    }

    fn source() -> String {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into());
        format!("registry-monitor@{host}")
    }

    /// The event for a check: trigger when it failed, resolve when it passed.
    pub(crate) fn event(&self, result: &CheckResult) -> serde_json::Value {
        let key = self.routing_key.clone().unwrap_or_default();
        if result.ok {
            json!({ "routing_key": key, "event_action": "resolve", "dedup_key": result.name })
        } else {
            json!({
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": result.name,
                "payload": {
                    "summary": result.summary,
                    "source": Pager::source(),
                    "severity": "critical",
                    "custom_details": { "count": result.count, "job_id": result.job_id },
                },
            })
        }
    }

    /// Sends (or prints) the check's event. 429 and 5xx answers are retried with backoff.
    pub(crate) fn report(&self, result: &CheckResult) -> Result<(), PagerError> {
        let event = self.event(result);
        if self.routing_key.is_none() {
            println!(
                "would send to {}: {}",
                redact::Redacted(&self.url),
                redact::redact(&event.to_string())
            );
            return Ok(());
        }
        let mut delay = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&self.url).json(&event).send() {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    let body = response.text().unwrap_or_default();
                    if status.as_u16() == 400 {
                        return Err(PagerError::Rejected {
                            url: redact::redact(&self.url).into_owned(),
                            body: redact::redact(&body).into_owned(),
                        });
                    }
                    last = format!("HTTP {status}: {body}");
                    if !(status.as_u16() == 429 || status.is_server_error()) {
                        break;
                    }
                }
                Err(err) => last = redact::redact(&err.to_string()).into_owned(),
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(PagerError::Failed {
            url: redact::redact(&self.url).into_owned(),
            reason: redact::redact(&last).into_owned(),
        })
    }
}
