//! WAL recovery (`storage::wal::Wal::open`): segment files written from the input into a temp
//! dir, then opened. An independent model (its own record reader and replay over `u128`
//! indexes) predicts the outcome: a torn or failing record cuts the newest segment and is
//! corruption in an older one; a gap, a short body, an unknown kind or an entry at u64::MAX
//! (it has no next index) is corruption; the copy of the purge point at the head of a
//! segment is not a purge. When the
//! log opens, its bounds, every entry's payload and every state slot are the model's, so a
//! recovered log never yields an entry whose CRC does not match; a second open recovers the
//! same log, and an append after it reads back.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use ass_node::storage::wal::{Wal, WalError, DEFAULT_SEGMENT_BYTES};
use libfuzzer_sys::fuzz_target;

const ENTRY: u8 = 1;
const STATE: u8 = 2;
const PURGE: u8 = 3;
const TRUNCATE: u8 = 4;

fn record(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(body);
    out.extend_from_slice(&((1 + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// Builds segments from a little op language, so the fuzzer reaches deep states with valid
/// CRCs: each op is `code len body[len]`.
fn build(ops: &[u8]) -> Vec<Vec<u8>> {
    let mut segs = vec![Vec::new()];
    let mut next: u64 = 1;
    let mut at = 0;
    while at + 2 <= ops.len() {
        let (code, len) = (ops[at], usize::from(ops[at + 1]));
        let body = &ops[(at + 2).min(ops.len())..(at + 2 + len).min(ops.len())];
        at += 2 + len;
        let seg = segs.last_mut().expect("one segment");
        let index = |b: &[u8]| match b.len() {
            0 => 0,
            1 => u64::from(b[0]),
            _ => u64::from_be_bytes(
                b.iter().copied().chain([0; 8]).take(8).collect::<Vec<_>>().try_into().expect("8"),
            ),
        };
        match code % 8 {
            0 => {
                let mut b = next.to_be_bytes().to_vec();
                b.extend_from_slice(body);
                record(seg, ENTRY, &b);
                next = next.wrapping_add(1);
            }
            1 => {
                let i = index(body);
                let mut b = i.to_be_bytes().to_vec();
                b.extend_from_slice(body.get(8..).unwrap_or_default());
                record(seg, ENTRY, &b);
                next = i.wrapping_add(1);
            }
            2 => record(seg, STATE, body),
            3 => record(seg, PURGE, &index(body).to_be_bytes()),
            4 => record(seg, TRUNCATE, &index(body).to_be_bytes()),
            5 => seg.extend_from_slice(body),
            6 => {
                if segs.len() < 4 {
                    segs.push(Vec::new());
                }
            }
            _ => record(seg, body.first().copied().unwrap_or(0), body.get(1..).unwrap_or_default()),
        }
    }
    segs
}

/// What the model expects `open` to recover.
#[derive(Debug, PartialEq, Eq)]
struct Recovered {
    entries: Vec<(u64, Vec<u8>)>,
    state: BTreeMap<u8, Vec<u8>>,
    purged: Option<u64>,
}

fn model(segs: &[Vec<u8>]) -> Option<Recovered> {
    // Entries held, contiguous: (index, payload); indexes in u128 so nothing overflows here.
    let mut entries: Vec<(u128, Vec<u8>)> = Vec::new();
    let mut state = BTreeMap::new();
    let mut purged: Option<u64> = None;
    for (i, seg) in segs.iter().enumerate() {
        let newest = i + 1 == segs.len();
        let mut at = 0;
        let mut header = true;
        while at < seg.len() {
            let rest = &seg[at..];
            let parsed = (|| {
                let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let crc = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?);
                if len == 0 || len > 256 << 20 {
                    return None;
                }
                let r = rest.get(8..8 + len)?;
                (crc32fast::hash(r) == crc).then(|| (r[0], &r[1..], 8 + len))
            })();
            let Some((kind, body, len)) = parsed else {
                if !newest {
                    return None;
                }
                break;
            };
            let in_header = header && (kind == STATE || kind == PURGE);
            header = header && kind == STATE;
            let lead = || body.get(..8).map(|b| u64::from_be_bytes(b.try_into().expect("8")));
            match kind {
                ENTRY => {
                    let index = u128::from(lead()?);
                    if index == u128::from(u64::MAX) {
                        return None; // no next index: corrupt
                    }
                    let payload = body[8..].to_vec();
                    match entries.last().map(|e| e.0) {
                        None => {}
                        Some(last) if index == last + 1 => {}
                        Some(last) if index > last + 1 => return None,
                        Some(_) => {
                            let first = entries[0].0;
                            if index >= first {
                                entries.truncate((index - first) as usize);
                            } else {
                                entries.clear();
                            }
                        }
                    }
                    entries.push((index, payload));
                }
                STATE => {
                    let (slot, value) = body.split_first()?;
                    state.insert(*slot, value.to_vec());
                }
                PURGE => {
                    let upto = lead()?;
                    // The copy of the purge point a segment starts with is not a purge.
                    if !(in_header && purged.is_some_and(|p| upto <= p)) {
                        purged = Some(purged.map_or(upto, |p| p.max(upto)));
                        entries.retain(|e| e.0 > u128::from(upto));
                    }
                }
                TRUNCATE => {
                    let from = lead()?;
                    entries.retain(|e| e.0 < u128::from(from));
                }
                _ => return None,
            }
            at += len;
        }
    }
    let entries =
        entries.into_iter().map(|(i, p)| (u64::try_from(i).expect("u64 index"), p)).collect();
    Some(Recovered { entries, state, purged })
}

fn observe(wal: &Wal) -> Recovered {
    let entries = match wal.bounds() {
        None => Vec::new(),
        Some((first, last)) => {
            assert!(first <= last);
            let payloads = wal
                .read(first, last.saturating_add(1))
                .unwrap_or_else(|e| panic!("a recovered log fails to read its own entries: {e}"));
            assert_eq!(payloads.len() as u128, u128::from(last - first) + 1);
            (first..=last).zip(payloads).collect()
        }
    };
    let state = (0..=255u8).filter_map(|s| wal.state(s).map(|v| (s, v))).collect();
    Recovered { entries, state, purged: wal.purged() }
}

fn write_segments(dir: &Path, segs: &[Vec<u8>]) {
    for (i, seg) in segs.iter().enumerate() {
        std::fs::write(dir.join(format!("{:016x}.wal", i + 1)), seg).expect("write a segment");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let segs = if mode & 1 == 1 {
        build(rest)
    } else {
        // Raw bytes, cut into two segments at a point the second byte chooses.
        let Some((&cut, raw)) = rest.split_first() else { return };
        let cut = usize::from(cut).min(raw.len());
        if mode & 2 == 2 {
            vec![raw[..cut].to_vec(), raw[cut..].to_vec()]
        } else {
            vec![raw.to_vec()]
        }
    };
    // On tmpfs when there is one: every open fsyncs, and a disk makes that the whole cost.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }
        .expect("temp dir");
    write_segments(dir.path(), &segs);
    let expected = model(&segs);
    let wal = match (Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES), &expected) {
        (Ok(wal), Some(_)) => wal,
        (Err(WalError::Corrupt(_)), None) => return,
        (Ok(wal), None) => {
            panic!("the log opened, but the model says corrupt: {:?}", observe(&wal))
        }
        (Err(e), Some(m)) => panic!("open failed ({e}), the model recovers {m:?}"),
        (Err(e), None) => panic!("open failed with a non-corruption error: {e}"),
    };
    let expected = expected.expect("checked");
    assert_eq!(observe(&wal), expected, "recovered log differs from the model");
    drop(wal);
    let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).expect("a recovered log reopens");
    assert_eq!(observe(&wal), expected, "second recovery differs");
    if let Some(next) = wal.bounds().map_or(Some(1), |(_, last)| last.checked_add(1)) {
        wal.append([(next, &b"after"[..])]).expect("append after recovery");
        wal.sync().expect("sync");
        drop(wal);
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).expect("reopens after an append");
        let got = observe(&wal);
        assert_eq!(got.entries.last(), Some(&(next, b"after".to_vec())));
    }
});
