//! Fuzz the audit log readers: arbitrary bytes as a verdict log into
//! `certgate::audit::verify_bytes` (the hash-chain check behind `certgate audit verify`) and
//! `certgate::audit::replay_bytes` (which rebuilds policy snapshots from the log, in memory,
//! and re-runs the recorded verdicts).
//!
//! Neither may panic, whatever the bytes. `verify_bytes`' report must be consistent: intact
//! exactly when no problem is named, no more records than lines, the gaps adding up to
//! `dropped`, and a named problem pointing at a line that exists. `replay_bytes` must account
//! for every verdict it read (replayed + skipped + the ones listed as not replayable) and say
//! `reproduced` exactly when nothing is listed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = u64::try_from(data.split(|b| *b == b'\n').count()).unwrap();
    let report = certgate::audit::verify_bytes(data);
    assert_eq!(report.intact, report.problem.is_none(), "{report:?}");
    assert!(report.records <= lines, "{report:?}");
    assert!(report.verdicts <= report.records, "{report:?}");
    let gaps: u64 = report.gaps.iter().map(|g| g.dropped).fold(0, u64::saturating_add);
    assert_eq!(gaps, report.dropped, "{report:?}");
    if let Some(problem) = &report.problem {
        assert!(problem.line >= 1 && problem.line <= lines, "{report:?}");
    }
    if report.intact && report.records > 0 {
        assert!(report.head.is_some());
    }

    if let Ok(replayed) = certgate::audit::replay_bytes(data) {
        let not_replayable = replayed
            .differences
            .iter()
            .filter(|d| d.replayed_action.is_none())
            .count();
        let accounted = replayed
            .replayed
            .saturating_add(replayed.skipped)
            .saturating_add(u64::try_from(not_replayable).unwrap());
        assert_eq!(accounted, replayed.verdicts, "{replayed:?}");
        assert_eq!(replayed.reproduced, replayed.differences.is_empty());
    }
});
