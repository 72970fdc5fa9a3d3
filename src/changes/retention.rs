//! Which stored versions a push lets go: everything beyond the newest `keep_versions` that is
//! also older than `keep_days`, except the versions that may still be needed (the current one,
//! the one it replaced, a candidate).

use super::config::Retention;
use super::versions::VersionRecord;

const DAY_MS: f64 = 86_400_000.0;

/// The versions to delete, oldest first.
pub fn expired<'r>(
    records: &'r [VersionRecord],
    retention: &Retention,
    keep: &[&str],
    now_ms: f64,
) -> Vec<&'r VersionRecord> {
    let mut newest_first: Vec<&VersionRecord> = records.iter().collect();
    newest_first.sort_by(|a, b| b.pushed_at_ms.total_cmp(&a.pushed_at_ms));
    let cutoff = now_ms - retention.keep_days as f64 * DAY_MS;
    let mut out: Vec<&VersionRecord> = newest_first
        .into_iter()
        .skip(retention.keep_versions as usize)
        .filter(|r| r.pushed_at_ms < cutoff)
        .filter(|r| !keep.contains(&r.version.as_str()))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, days_ago: f64, now: f64) -> VersionRecord {
        VersionRecord {
            version: version.to_string(),
            pushed_at_ms: now - days_ago * DAY_MS,
            routes: 1,
            bytes: 10,
        }
    }

    #[test]
    fn keeps_the_newest_the_young_and_the_needed() {
        let now = 1e12;
        let records = vec![
            record("a", 50.0, now),
            record("b", 40.0, now),
            record("c", 35.0, now),
            record("d", 10.0, now),
            record("e", 5.0, now),
            record("f", 1.0, now),
        ];
        let retention = Retention {
            keep_versions: 2,
            keep_days: 30,
        };
        let names = |keep: &[&str]| -> Vec<String> {
            expired(&records, &retention, keep, now)
                .iter()
                .map(|r| r.version.clone())
                .collect()
        };
        // e and f are the newest two; d is younger than 30 days.
        assert_eq!(names(&[]), ["a", "b", "c"]);
        // The previous version (b) is kept whatever its age.
        assert_eq!(names(&["f", "b"]), ["a", "c"]);
        let all = Retention {
            keep_versions: 1,
            keep_days: 0,
        };
        assert_eq!(expired(&records, &all, &["f"], now).len(), 5);
        let generous = Retention {
            keep_versions: 100,
            keep_days: 0,
        };
        assert!(expired(&records, &generous, &[], now).is_empty());
    }
}
