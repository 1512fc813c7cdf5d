//! The demo's workload: a small embedded key-value store, a B-tree map with a write-ahead log.
//!
//! Puts go into the caller's transaction and its encoded WAL bytes; `commit` appends those
//! bytes to the log file under a lock, fsyncs, then applies the writes to the map, so a
//! committed write survives a crash and an uncommitted one is never visible. `open` replays
//! the log up to its last commit marker. The point is realistic hot paths to instrument:
//! a map lookup (~100s of ns), an insert into a buffer, and an fsync (~ms).
//!
//! WAL entry: `u32 key_len, u32 value_len, key, value`, little-endian; a commit marker is
//! `key_len = u32::MAX, value_len = 0`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError, RwLock};

use northstar_core::event;

const COMMIT: u32 = u32::MAX;

/// The height of std's `BTreeMap` (nodes of up to 11 keys, at least 5 below the root) for
/// `keys` keys, at its fullest packing: the demo's stand-in for a B-tree's depth.
pub fn btree_depth(keys: u64) -> u8 {
    let (mut depth, mut capacity) = (1u8, 11u64);
    while capacity < keys {
        depth += 1;
        capacity = capacity * 12 + 11;
    }
    depth
}

/// The store.
pub struct KvStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
    wal: Mutex<File>,
    fsyncs: AtomicU64,
    wal_bytes: AtomicU64,
}

/// A transaction's pending writes.
#[derive(Default)]
pub struct Txn {
    writes: Vec<(Vec<u8>, Vec<u8>)>,
    wal: Vec<u8>,
}

impl Txn {
    /// Writes not yet committed.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

impl KvStore {
    /// Opens (or creates) the store whose log is `wal_path`, replaying committed writes.
    pub fn open(wal_path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(wal_path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let map = replay(&bytes);
        Ok(Self {
            map: RwLock::new(map),
            wal: Mutex::new(file),
            fsyncs: AtomicU64::new(0),
            wal_bytes: AtomicU64::new(bytes.len() as u64),
        })
    }

    /// The committed value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// Adds a write to `txn`; visible once committed.
    pub fn put(&self, txn: &mut Txn, key: &[u8], value: &[u8]) {
        txn.wal.extend_from_slice(&(key.len() as u32).to_le_bytes());
        txn.wal
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        txn.wal.extend_from_slice(key);
        txn.wal.extend_from_slice(value);
        txn.writes.push((key.to_vec(), value.to_vec()));
    }

    /// Appends `txn` and a commit marker to the log, fsyncs, then applies the writes.
    /// Returns the number of writes committed.
    pub fn commit(&self, txn: &mut Txn) -> io::Result<usize> {
        if txn.writes.is_empty() {
            return Ok(0);
        }
        txn.wal.extend_from_slice(&COMMIT.to_le_bytes());
        txn.wal.extend_from_slice(&0u32.to_le_bytes());
        let bytes = txn.wal.len() as u64;
        {
            let mut wal = self.wal.lock().unwrap_or_else(PoisonError::into_inner);
            wal.write_all(&txn.wal)?;
            let t0 = std::time::Instant::now();
            wal.sync_data()?;
            let sync = t0.elapsed();
            // A user-defined event: its name, field names and types, and the constant `file`
            // are interned once; the record holds a schema id and the three values.
            event!("kv.wal_sync", bytes = bytes, duration_ns = sync.as_nanos() as u64, writes = txn.writes.len() as u32, file = static "wal.log");
        }
        self.fsyncs.fetch_add(1, Relaxed);
        self.wal_bytes.fetch_add(bytes, Relaxed);
        txn.wal.clear();
        let n = txn.writes.len();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let mut new_keys = 0u32;
        for (k, v) in txn.writes.drain(..) {
            new_keys += u32::from(map.insert(k, v).is_none());
        }
        let keys = map.len() as u64;
        drop(map);
        event!(
            "kv.btree_apply",
            writes = n as u32,
            new_keys = new_keys,
            keys = keys,
            depth = btree_depth(keys)
        );
        Ok(n)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// fsyncs performed since open.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Relaxed)
    }

    /// Size of the log in bytes.
    pub fn wal_bytes(&self) -> u64 {
        self.wal_bytes.load(Relaxed)
    }
}

/// Applies every committed transaction in `bytes`; a torn or uncommitted tail is ignored.
fn replay(bytes: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut map = BTreeMap::new();
    let mut pending: Vec<(&[u8], &[u8])> = Vec::new();
    let mut pos = 0;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    while let (Some(klen), Some(vlen)) = (word(pos), word(pos + 4)) {
        pos += 8;
        if klen == COMMIT {
            for (k, v) in pending.drain(..) {
                map.insert(k.to_vec(), v.to_vec());
            }
            continue;
        }
        let (k, v) = (klen as usize, vlen as usize);
        let (Some(key), Some(value)) = (bytes.get(pos..pos + k), bytes.get(pos + k..pos + k + v))
        else {
            break;
        };
        pending.push((key, value));
        pos += k + v;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_writes_survive_reopen_and_uncommitted_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        {
            let kv = KvStore::open(&path).unwrap();
            let mut t = Txn::default();
            kv.put(&mut t, b"a", b"1");
            kv.put(&mut t, b"b", b"2");
            assert_eq!(kv.get(b"a"), None, "invisible before commit");
            assert_eq!(kv.commit(&mut t).unwrap(), 2);
            assert_eq!(kv.get(b"a").as_deref(), Some(&b"1"[..]));
            assert_eq!(kv.fsync_count(), 1);
            kv.put(&mut t, b"c", b"3"); // never committed
        }
        // A torn tail: half an entry after the last commit.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[5, 0, 0, 0, 1]).unwrap();
        drop(f);
        let kv = KvStore::open(&path).unwrap();
        assert_eq!(kv.len(), 2);
        assert_eq!(kv.get(b"b").as_deref(), Some(&b"2"[..]));
        assert_eq!(kv.get(b"c"), None);
    }
}
