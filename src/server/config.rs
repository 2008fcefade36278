//! [`ServeConfig`]: what [`serve_with`](super::serve_with) lets one peer hold, and for how long.

use std::time::Duration;

use serde::Deserialize;

/// Limits and timeouts of [`serve_with`](super::serve_with) ([`serve`](super::serve) uses the
/// defaults).
///
/// Every field bounds what a peer can hold before (or without) proving it is a genuine app: a
/// connection that sends nothing, an HTTP/2 connection that opens no stream and answers pings,
/// a flood of connections from one address, an oversized header block.
///
/// | field | default | what it bounds |
/// | --- | --- | --- |
/// | `handshake_timeout` | 10 s | TCP accept → TLS handshake done (a client that sends nothing) |
/// | `header_read_timeout` | 30 s | HTTP/1.1: waiting for a request's headers, the idle time between keep-alive requests included |
/// | `http2_idle_timeout` | 30 s | HTTP/2: time with no open stream before GOAWAY and close |
/// | `http2_keep_alive_interval` | 30 s | HTTP/2: PING interval to detect dead peers |
/// | `http2_keep_alive_timeout` | 10 s | HTTP/2: PING answer deadline |
/// | `http2_max_concurrent_streams` | 100 | HTTP/2: streams open at once per connection |
/// | `max_requests_per_connection` | 1000 | requests (HTTP/2 streams) per connection before a graceful close |
/// | `max_connections` | descriptor limit − min(64, limit/4) | concurrent connections, handshakes included |
/// | `max_connections_per_source` | `max_connections` / 4 | concurrent connections per IPv4 address or IPv6 /64 |
/// | `max_header_bytes` | 32 KiB | request head, HTTP/1.1 and HTTP/2 alike → `431` |
/// | `log_events_per_second` | 10 | connection-event log lines per second (the rest are counted) |
///
/// `max_connections` is derived from the process's soft `RLIMIT_NOFILE` (read from
/// `/proc/self/limits` on Linux; 256 assumed elsewhere, the lowest common default) minus a
/// reserve for the listener, policy reloads and logs, so `accept` keeps working when the cap is
/// reached: a connection over a cap is accepted and closed at once (a `connection_limit` or
/// `source_limit` [`ConnectionEvent`](crate::ConnectionEvent)), never left in the backlog where
/// it would queue ahead of genuine clients. Behind a TCP proxy that hides client addresses
/// every connection has the proxy's source: raise `max_connections_per_source` to
/// `max_connections` there.
///
/// `max_header_bytes` is counted the same way for both protocols, as HTTP/2 counts a header
/// list (RFC 9113 §6.5.2, RFC 7541 §4.1): each field's name and value plus 32 bytes, plus the
/// method and request target. A larger head gets `431 Request Header Fields Too Large` with a
/// short text body. hyper's own limits sit at twice the value, as a backstop on memory (beyond
/// it hyper answers `431` itself, without a body).
///
/// From code (builder methods) or from a file (serde; durations in seconds, fractions allowed;
/// unknown fields are refused):
///
/// ```
/// use std::time::Duration;
/// use certgate::server::ServeConfig;
///
/// let config = ServeConfig::default()
///     .http2_idle_timeout(Duration::from_secs(15))
///     .max_connections_per_source(64);
/// # let _ = config;
/// let from_file: ServeConfig = toml::from_str(r#"
///     handshake_timeout = 5
///     http2_idle_timeout = 15.5
///     max_connections = 10000
/// "#).unwrap();
/// # let _ = from_file;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServeConfig {
    #[serde(deserialize_with = "seconds")]
    pub(crate) handshake_timeout: Duration,
    #[serde(deserialize_with = "seconds")]
    pub(crate) header_read_timeout: Duration,
    #[serde(deserialize_with = "seconds")]
    pub(crate) http2_idle_timeout: Duration,
    #[serde(deserialize_with = "seconds")]
    pub(crate) http2_keep_alive_interval: Duration,
    #[serde(deserialize_with = "seconds")]
    pub(crate) http2_keep_alive_timeout: Duration,
    pub(crate) http2_max_concurrent_streams: u32,
    pub(crate) max_requests_per_connection: u64,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_source: Option<usize>,
    pub(crate) max_header_bytes: usize,
    pub(crate) log_events_per_second: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: super::HANDSHAKE_TIMEOUT,
            header_read_timeout: super::HEADER_READ_TIMEOUT,
            http2_idle_timeout: Duration::from_secs(30),
            http2_keep_alive_interval: Duration::from_secs(30),
            http2_keep_alive_timeout: Duration::from_secs(10),
            // hyper's default is 200; 100 is the minimum RFC 9113 §6.5.2 recommends.
            http2_max_concurrent_streams: 100,
            // nginx's `keepalive_requests` default.
            max_requests_per_connection: 1000,
            max_connections: None,
            max_connections_per_source: None,
            // nginx's effective default (`large_client_header_buffers 4 8k`).
            max_header_bytes: 32 * 1024,
            log_events_per_second: 10,
        }
    }
}

impl ServeConfig {
    /// Longest the TLS handshake may take, from accept (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// HTTP/1.1: longest wait for a request's headers, the idle time between keep-alive
    /// requests included (default 30 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// HTTP/2: how long a connection may have no open stream before the server sends GOAWAY
    /// and closes it (default 30 s).
    pub fn http2_idle_timeout(mut self, timeout: Duration) -> Self {
        self.http2_idle_timeout = timeout;
        self
    }

    /// HTTP/2: PING interval (default 30 s) and how long an answer may take (default 10 s);
    /// a peer that does not answer is closed.
    pub fn http2_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.http2_keep_alive_interval = interval;
        self.http2_keep_alive_timeout = timeout;
        self
    }

    /// HTTP/2: streams a peer may have open at once (default 100).
    pub fn http2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.http2_max_concurrent_streams = max;
        self
    }

    /// Requests (HTTP/2 streams) per connection, after which it is closed gracefully: HTTP/1.1
    /// after the response, HTTP/2 with GOAWAY (default 1000).
    pub fn max_requests_per_connection(mut self, max: u64) -> Self {
        self.max_requests_per_connection = max;
        self
    }

    /// Concurrent connections, handshakes included (default: derived from the descriptor
    /// limit, see the type's docs).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Concurrent connections per source: an IPv4 address, or an IPv6 /64 (default:
    /// a quarter of `max_connections`).
    pub fn max_connections_per_source(mut self, max: usize) -> Self {
        self.max_connections_per_source = Some(max);
        self
    }

    /// Largest request head, in bytes, for HTTP/1.1 and HTTP/2 alike (default 32 KiB).
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.max_header_bytes = max;
        self
    }

    /// Connection-event log lines per second; the rest are counted and reported in the next
    /// line (default 10). The event sink sees every event regardless.
    pub fn log_events_per_second(mut self, max: u32) -> Self {
        self.log_events_per_second = max;
        self
    }

    /// The connection cap in force: the configured one, or the one derived from the
    /// process's descriptor limit.
    pub fn effective_max_connections(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| connections_for_descriptors(descriptor_limit()))
    }

    /// The per-source cap in force: the configured one, or a quarter of
    /// [`effective_max_connections`](Self::effective_max_connections) (at least 1).
    pub fn effective_max_connections_per_source(&self) -> usize {
        self.max_connections_per_source
            .unwrap_or_else(|| (self.effective_max_connections() / 4).max(1))
    }
}

/// The descriptor limit assumed where it cannot be read: macOS's default soft limit, the
/// lowest common one.
const FALLBACK_DESCRIPTOR_LIMIT: u64 = 256;

/// The limit assumed for `unlimited` (and the most connections derived from any limit).
const UNLIMITED_DESCRIPTOR_LIMIT: u64 = 1 << 20;

/// Connections for a descriptor limit: the limit minus a reserve of 64 descriptors (a quarter
/// of the limit when that is smaller) for the listener, the runtime, stdio, logs and the files
/// a policy reload opens.
fn connections_for_descriptors(limit: u64) -> usize {
    let reserve = (limit / 4).min(64);
    usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

/// The soft `RLIMIT_NOFILE` of this process.
fn descriptor_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| parse_open_files(&limits))
        .unwrap_or(FALLBACK_DESCRIPTOR_LIMIT)
}

/// The soft limit in `/proc/self/limits` text: `Max open files  <soft>  <hard>  files`.
fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(UNLIMITED_DESCRIPTOR_LIMIT);
    }
    soft.parse()
        .ok()
        .map(|n: u64| n.min(UNLIMITED_DESCRIPTOR_LIMIT))
}

/// A duration written as seconds: an integer or a non-negative decimal.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct Seconds;
    impl serde::de::Visitor<'_> for Seconds {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration in seconds")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v)
                .map_err(|_| E::custom("a duration must be a non-negative number of seconds"))
        }
    }
    d.deserialize_any(Seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_are_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            256                  524288               files     \n";
        assert_eq!(parse_open_files(limits), Some(256));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(
            parse_open_files(unlimited),
            Some(UNLIMITED_DESCRIPTOR_LIMIT)
        );
        assert_eq!(parse_open_files("Max processes 10 10 processes\n"), None);
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_listener() {
        assert_eq!(connections_for_descriptors(256), 192);
        assert_eq!(connections_for_descriptors(1024), 960);
        assert_eq!(connections_for_descriptors(64), 48);
        assert_eq!(connections_for_descriptors(0), 1);
        let config = ServeConfig::default().max_connections(100);
        assert_eq!(config.effective_max_connections_per_source(), 25);
    }

    #[test]
    fn config_files_use_seconds_and_refuse_unknown_fields() {
        let config: ServeConfig =
            toml::from_str("handshake_timeout = 2.5\nmax_connections = 7\n").unwrap();
        assert_eq!(config.handshake_timeout, Duration::from_millis(2500));
        assert_eq!(config.effective_max_connections(), 7);
        assert_eq!(
            config.header_read_timeout,
            ServeConfig::default().header_read_timeout
        );
        assert!(toml::from_str::<ServeConfig>("handshake_timout = 2\n").is_err());
        assert!(toml::from_str::<ServeConfig>("handshake_timeout = -1\n").is_err());
    }
}
