//! The guest's WASI context: nothing of the host unless granted.
//!
//! Every context starts from `WasiCtxBuilder::new()` (stdin closed, no
//! environment, no arguments, no preopened directory), with the network
//! switched off and random requests capped, then gets exactly the grants
//! of the run. In deterministic mode its clocks start at fixed values and
//! advance a fixed step per reading, and its random bytes come from a
//! generator seeded by the run's seed and the record's index.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::grants::OpenDir;

/// Most bytes one call for random bytes may ask for.
const MAX_RANDOM_REQUEST: u64 = 4 << 20;
/// Where a deterministic wall clock starts: 2000-01-01T00:00:00Z.
const DETERMINISTIC_EPOCH: Duration = Duration::from_secs(946_684_800);
/// How far a deterministic clock advances per reading.
pub(crate) const DETERMINISTIC_STEP: Duration = Duration::from_millis(1);

/// What every WASI context of a run is made from.
#[derive(Debug, Clone)]
pub(crate) struct WasiSetup {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dirs: Vec<OpenDir>,
    pub deterministic: Option<u64>,
}

impl WasiSetup {
    /// A context builder for record `index`, with exactly the run's grants.
    pub fn builder(&self, index: u64) -> wasmtime::Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_REQUEST)
            .arg(&self.program)
            .args(&self.args);
        for (key, value) in &self.env {
            builder.env(key, value);
        }
        for dir in &self.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder.preopened_dir(dir.path(), &dir.guest, perms)?;
        }
        if let Some(seed) = self.deterministic {
            builder
                .wall_clock(StepClock::new(DETERMINISTIC_EPOCH))
                .monotonic_clock(StepClock::new(Duration::ZERO))
                .secure_random(seeded(seed, index, "secure"))
                .insecure_random(seeded(seed, index, "insecure"))
                .insecure_random_seed(u128::from_le_bytes(
                    derive(seed, index, "insecure-seed")[..16]
                        .try_into()
                        .expect("16 bytes"),
                ));
        }
        Ok(builder)
    }
}

/// 32 bytes derived from (seed, record index, purpose).
fn derive(seed: u64, index: u64, purpose: &str) -> [u8; 32] {
    let mut material = Vec::with_capacity(16 + purpose.len());
    material.extend_from_slice(&seed.to_le_bytes());
    material.extend_from_slice(&index.to_le_bytes());
    material.extend_from_slice(purpose.as_bytes());
    blake3::derive_key("sandmap deterministic mode v1", &material)
}

fn seeded(seed: u64, index: u64, purpose: &str) -> rand::rngs::StdRng {
    rand::rngs::StdRng::from_seed(derive(seed, index, purpose))
}

/// A clock that starts at a fixed time and advances a fixed step each
/// time it is read.
struct StepClock {
    next_nanos: AtomicU64,
}

impl StepClock {
    fn new(start: Duration) -> Self {
        StepClock {
            next_nanos: AtomicU64::new(u64::try_from(start.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    fn read(&self) -> u64 {
        let step = DETERMINISTIC_STEP.as_nanos() as u64;
        self.next_nanos.fetch_add(step, Ordering::Relaxed)
    }
}

impl wasmtime_wasi::HostWallClock for StepClock {
    fn resolution(&self) -> Duration {
        DETERMINISTIC_STEP
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.read())
    }
}

impl wasmtime_wasi::HostMonotonicClock for StepClock {
    fn resolution(&self) -> u64 {
        DETERMINISTIC_STEP.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        self.read()
    }
}
