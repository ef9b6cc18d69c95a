//! What a run prints: how it was run, then one table per kind of measurement, each
//! figure next to the one it is stated against.

mod table;

use crate::{
    driver::Measured,
    pgbench,
    reads::ReadRow,
    seed::Counts,
    stats::{ms, ratio, show_ratio},
};
use std::{ops::Range, time::Duration};
use table::Table;
use tessera::store::Backend;

/// One bulk load.
#[derive(Debug, Clone)]
pub struct Seeding {
    /// The subscriptions loaded, by the seed's numbering.
    pub subscriptions: Range<u64>,
    /// Rows written.
    pub counts: Counts,
    /// How long it took.
    pub elapsed: Duration,
}

/// One write, durable and (on SQLite) not.
#[derive(Debug, Clone)]
pub struct WriteRow {
    /// The method.
    pub label: &'static str,
    /// With every commit on disk (SQLite `synchronous=FULL`, PostgreSQL's default).
    pub durable: Measured,
    /// With SQLite's `synchronous=OFF`.
    pub unsafe_off: Option<Measured>,
}

/// pgbench with `ActivateSeat`'s statements, at one number of clients.
#[derive(Debug, Clone, Copy)]
pub struct PgbenchRun {
    /// What it reported.
    pub outcome: pgbench::Outcome,
    /// Its clients.
    pub clients: usize,
}

/// The server's memory over one of its runs.
#[derive(Debug, Clone)]
pub struct MemoryRow {
    /// Which run.
    pub server: String,
    /// The highest resident set sampled while it was under load, in KiB.
    pub peak_rss_kib: u64,
    /// The highest resident set since it started (`VmHWM`), in KiB.
    pub hwm_kib: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The database.
    pub backend: Backend,
    /// How the run was started.
    pub command: String,
    /// The machine, and how loaded it was.
    pub machine: String,
    /// How the load was generated.
    pub load: String,
    /// The bulk loads.
    pub seeding: Vec<Seeding>,
    /// The reads, by subscriptions seeded.
    pub reads: Vec<(u64, Vec<ReadRow>)>,
    /// The writes.
    pub writes: Vec<WriteRow>,
    /// pgbench, on PostgreSQL.
    pub pgbench: Vec<PgbenchRun>,
    /// Latencies, by subscriptions seeded.
    pub latency: Vec<(u64, Vec<(&'static str, Measured)>)>,
    /// The server's memory.
    pub memory: Vec<MemoryRow>,
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn per_second(rate: f64) -> String {
    format!("{rate:.0}")
}

/// Calls that failed, and the first failure if any.
fn failures(measured: &Measured) -> String {
    measured.failed.to_string()
}

impl Report {
    fn seeding_table(&self) -> Table {
        let mut table = Table::new(
            "bulk load (multi-row inserts, one transaction per 10,000 subscriptions)",
            &[
                "subscriptions",
                "seats",
                "rows (all tables)",
                "time (s)",
                "rows/s",
            ],
        );
        for s in &self.seeding {
            let secs = s.elapsed.as_secs_f64();
            table.row(vec![
                format!("{}..{}", s.subscriptions.start, s.subscriptions.end),
                s.counts.seats.to_string(),
                s.counts.total().to_string(),
                format!("{secs:.1}"),
                per_second(s.counts.total() as f64 / secs.max(f64::EPSILON)),
            ]);
        }
        table
    }

    fn reads_table(&self, seeded: u64, rows: &[ReadRow]) -> Table {
        let health = rows
            .iter()
            .find(|r| r.label == "Health/Check")
            .map_or(0.0, |r| r.outcome.req_per_s);
        let mut table = Table::new(
            format!("reads (h2load), {seeded} subscriptions seeded"),
            &[
                "operation",
                "req/s",
                "÷ Health/Check",
                "answers",
                "server: OK / other",
                "bytes/answer",
            ],
        );
        for r in rows {
            let o = &r.outcome;
            table.row(vec![
                r.label.to_owned(),
                per_second(o.req_per_s),
                show_ratio(ratio(o.req_per_s, health)),
                o.done.to_string(),
                format!("{} / {}", r.logged.0, r.logged.1),
                format!("{:.0}", o.data_bytes as f64 / o.done.max(1) as f64),
            ]);
        }
        table
    }

    fn writes_table(&self) -> Table {
        match self.backend {
            Backend::Sqlite => {
                let mut table = Table::new(
                    "durable writes (driver): synchronous=FULL against synchronous=OFF",
                    &[
                        "operation",
                        "FULL req/s",
                        "p50 (ms)",
                        "p99 (ms)",
                        "OFF req/s",
                        "p50 (ms)",
                        "p99 (ms)",
                        "FULL ÷ OFF",
                        "failed",
                    ],
                );
                for w in &self.writes {
                    let off = w.unsafe_off.clone().unwrap_or_default();
                    table.row(vec![
                        w.label.to_owned(),
                        per_second(w.durable.per_second()),
                        ms(w.durable.latencies.percentile(0.5)),
                        ms(w.durable.latencies.percentile(0.99)),
                        per_second(off.per_second()),
                        ms(off.latencies.percentile(0.5)),
                        ms(off.latencies.percentile(0.99)),
                        show_ratio(ratio(w.durable.per_second(), off.per_second())),
                        (w.durable.failed + off.failed).to_string(),
                    ]);
                }
                table
            }
            Backend::Postgres => {
                let mut header: Vec<String> = ["operation", "req/s", "p50 (ms)", "p99 (ms)"]
                    .map(str::to_owned)
                    .to_vec();
                for run in &self.pgbench {
                    header.push(format!("pgbench tps ({} clients)", run.clients));
                    header.push("÷ pgbench".to_owned());
                }
                header.push("failed".to_owned());
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                let mut table = Table::new(
                    "durable writes (driver) against pgbench running ActivateSeat's statements",
                    &header,
                );
                for w in &self.writes {
                    let mut row = vec![
                        w.label.to_owned(),
                        per_second(w.durable.per_second()),
                        ms(w.durable.latencies.percentile(0.5)),
                        ms(w.durable.latencies.percentile(0.99)),
                    ];
                    for run in &self.pgbench {
                        if w.label == "ActivateSeat" {
                            row.push(per_second(run.outcome.tps));
                            row.push(show_ratio(ratio(w.durable.per_second(), run.outcome.tps)));
                        } else {
                            row.extend(["-".to_owned(), "-".to_owned()]);
                        }
                    }
                    row.push(failures(&w.durable));
                    table.row(row);
                }
                table
            }
        }
    }

    fn latency_table(&self) -> Table {
        let mut table = Table::new(
            "latency at scale (driver)",
            &[
                "operation",
                "subscriptions",
                "req/s",
                "p50 (ms)",
                "p90 (ms)",
                "p99 (ms)",
                "max (ms)",
                "failed",
            ],
        );
        let labels: Vec<&str> = self
            .latency
            .first()
            .map(|(_, rows)| rows.iter().map(|(label, _)| *label).collect())
            .unwrap_or_default();
        for label in labels {
            for (seeded, rows) in &self.latency {
                for (_, m) in rows.iter().filter(|(l, _)| *l == label) {
                    table.row(vec![
                        label.to_owned(),
                        seeded.to_string(),
                        per_second(m.per_second()),
                        ms(m.latencies.percentile(0.5)),
                        ms(m.latencies.percentile(0.9)),
                        ms(m.latencies.percentile(0.99)),
                        ms(m.latencies.max()),
                        failures(m),
                    ]);
                }
            }
        }
        table
    }

    /// `p50 at the largest scale ÷ p50 at the smallest`, per operation.
    fn latency_ratios(&self) -> Option<String> {
        let (small, first) = self.latency.first()?;
        let (large, last) = self.latency.last().filter(|(n, _)| n != small)?;
        let parts: Vec<String> = first
            .iter()
            .filter_map(|(label, a)| {
                let (_, b) = last.iter().find(|(l, _)| l == label)?;
                let r = ratio(
                    b.latencies.percentile(0.5).as_secs_f64(),
                    a.latencies.percentile(0.5).as_secs_f64(),
                );
                Some(format!("{label} {}", show_ratio(r)))
            })
            .collect();
        Some(format!("p50({large}) ÷ p50({small}): {}", parts.join(", ")))
    }

    fn memory_table(&self) -> Table {
        let mut table = Table::new(
            "server memory (/proc/<pid>/status)",
            &["server run", "peak VmRSS under load (MiB)", "VmHWM (MiB)"],
        );
        for m in &self.memory {
            table.row(vec![m.server.clone(), mib(m.peak_rss_kib), mib(m.hwm_kib)]);
        }
        table
    }

    /// The failures of the driver's calls, one line each.
    fn failure_notes(&self) -> Vec<String> {
        let writes = self.writes.iter().flat_map(|w| {
            [
                Some(("", &w.durable)),
                w.unsafe_off.as_ref().map(|m| (" (OFF)", m)),
            ]
            .into_iter()
            .flatten()
            .map(move |(suffix, m)| (format!("{}{suffix}", w.label), m))
        });
        let latency = self
            .latency
            .iter()
            .flat_map(|(n, rows)| rows.iter().map(move |(l, m)| (format!("{l} at {n}"), m)));
        writes
            .chain(latency)
            .filter_map(|(label, m)| {
                let first = m.first_failure.as_ref()?;
                Some(format!(
                    "{label}: {} failed, the first with {first}",
                    m.failed
                ))
            })
            .collect()
    }

    /// Whether every call of the driver succeeded.
    pub fn clean(&self) -> bool {
        self.failure_notes().is_empty()
    }

    /// The whole report.
    pub fn render(&self) -> String {
        let backend = match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        let mut out = format!(
            "tessera-bench, {backend}\n\ncommand: {}\nmachine: {}\nload:    {}\n\n",
            self.command, self.machine, self.load
        );
        let mut tables = vec![self.seeding_table()];
        for (seeded, rows) in &self.reads {
            tables.push(self.reads_table(*seeded, rows));
        }
        tables.push(self.writes_table());
        tables.push(self.latency_table());
        tables.push(self.memory_table());
        for table in tables {
            out.push_str(&table.render());
            out.push('\n');
        }
        if let Some(ratios) = self.latency_ratios() {
            out.push_str(&ratios);
            out.push('\n');
        }
        for p in &self.pgbench {
            out.push_str(&format!(
                "pgbench, {} clients: {} transactions, {} failed\n",
                p.clients, p.outcome.processed, p.outcome.failed
            ));
        }
        for note in self.failure_notes() {
            out.push_str(&format!("FAILED {note}\n"));
        }
        out
    }
}
