//! Durable storage for persistent sending queues: append-only segment files of length-prefixed,
//! CRC-checked records (DESIGN.md, "Reliability model").
//!
//! A [`FileStorage`] (what the `file_storage` extension provides) owns a directory; each queue
//! opens its own subdirectory as a [`SegmentLog`]:
//!
//! ```text
//! <directory>/<queue name>/seg-00000000000000000001.log   records, in append order
//! <directory>/<queue name>/seg-00000000000000000001.ack   indices of acknowledged records
//! ```
//!
//! A segment file starts with the 8-byte magic `STRATAQ1`; each record is
//!
//! ```text
//! u32 LE  payload length in bytes
//! u32 LE  CRC-32 (IEEE) of the next 4 bytes and the payload
//! u32 LE  item count (spans, data points, log records) of the payload
//! [u8]    payload (an encoded OTLP export request)
//! ```
//!
//! At open, every segment is scanned: the first record whose length runs past the end of the
//! file or whose CRC does not match ends the segment; the file is truncated there and the cut
//! bytes are reported in [`Recovery`] (a torn write from a crash, or corruption). Records listed
//! in the segment's `.ack` file were delivered before the restart and are skipped. A segment is
//! deleted once every record in it is acknowledged and it is no longer written to. The `.ack`
//! file is never synced: losing it after a crash only means records are delivered again
//! (at-least-once), never that one is lost.
//!
//! Durability of an append follows [`Fsync`]: `always` syncs the segment before `append`
//! returns (the record survives a power loss once acknowledged); `interval` syncs on a timer
//! (a process crash loses nothing, a power loss up to one interval); `never` leaves it to the
//! kernel (a process crash still loses nothing: written bytes are in the page cache).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Notify;

/// Magic at the start of every segment file (format version 1).
pub const SEGMENT_MAGIC: &[u8; 8] = b"STRATAQ1";
/// Bytes of a record header: length, CRC, item count.
pub const RECORD_HEADER: u64 = 12;
/// Largest payload a record may have; a longer length field is treated as corruption.
pub const MAX_RECORD: u64 = 256 << 20;

/// When appended records are synced to disk: `always`, `interval` or `never`, or the
/// Collector's boolean `fsync` (`true` = `always`, `false` = `never`: bbolt's `NoSync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// After every append, before it is acknowledged.
    Always,
    /// Every `fsync_interval` (default).
    #[default]
    Interval,
    /// Never explicitly; the kernel writes back.
    Never,
}

impl<'de> Deserialize<'de> for Fsync {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bool(bool),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Bool(true) => Ok(Fsync::Always),
            Repr::Bool(false) => Ok(Fsync::Never),
            Repr::Name(n) => match n.as_str() {
                "always" => Ok(Fsync::Always),
                "interval" => Ok(Fsync::Interval),
                "never" => Ok(Fsync::Never),
                other => Err(serde::de::Error::custom(format!(
                    "unknown fsync {other:?}: always, interval, never, or the Collector's true/false"
                ))),
            },
        }
    }
}

/// What an append does when the storage is at its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse the new record: the sender gets a retryable error and keeps its data (default).
    #[default]
    Refuse,
    /// Delete the oldest segment(s) to make room; their undelivered items are counted as dropped.
    DropOldest,
}

/// A storage directory with its limits, shared by every queue that uses it: the size limit is
/// for all of them together.
#[derive(Debug, Clone)]
pub struct FileStorage {
    /// The directory holding one subdirectory per queue.
    pub directory: PathBuf,
    /// Sync policy of appends.
    pub fsync: Fsync,
    /// Period of syncs under [`Fsync::Interval`].
    pub fsync_interval: Duration,
    /// Bound on the bytes of all segment files of all queues in this storage.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once it reaches this size.
    pub segment_bytes: u64,
    /// Policy at `max_bytes`.
    pub when_full: WhenFull,
    /// Bytes of segment files on disk now, across queues.
    used: Arc<AtomicU64>,
}

impl FileStorage {
    /// Storage in `directory` with the given limits (the directory is created at open).
    pub fn new(
        directory: PathBuf,
        fsync: Fsync,
        fsync_interval: Duration,
        max_bytes: u64,
        segment_bytes: u64,
        when_full: WhenFull,
    ) -> Self {
        FileStorage {
            directory,
            fsync,
            fsync_interval,
            max_bytes,
            segment_bytes,
            when_full,
            used: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes of segment files on disk, across the queues opened from this storage.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Opens (creating or recovering) the queue `name`: a subdirectory of [`Self::directory`].
    /// `name` is made filesystem-safe (`otlp/up` → `otlp_up`).
    ///
    /// # Errors
    /// The directory cannot be created or a segment cannot be read or truncated.
    pub fn open(&self, name: &str) -> io::Result<(SegmentLog, Recovery)> {
        SegmentLog::open(self.directory.join(Self::dir_name(name)), self.clone())
    }

    /// The subdirectory name of the queue `name`: ASCII letters, digits, `-` and `.` kept,
    /// anything else `_` (`otlp/up_traces` → `otlp_up_traces`).
    pub fn dir_name(name: &str) -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// What opening a log found on disk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records waiting for delivery.
    pub records: u64,
    /// Items in those records.
    pub items: u64,
    /// Bytes cut from segment tails (torn or corrupt records), and whole unreadable segments.
    pub truncated_bytes: u64,
    /// Segments that had a corrupt or torn tail.
    pub corrupt_segments: u64,
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The storage is at `max_bytes` and the policy is to refuse.
    #[error("persistent queue is full ({used} of {max} bytes on disk)")]
    Full {
        /// Bytes on disk.
        used: u64,
        /// The limit.
        max: u64,
    },
    /// The log is closed (shutting down).
    #[error("persistent queue is closed")]
    Closed,
    /// Writing failed (disk full, I/O error).
    #[error("persistent queue write failed: {0}")]
    Io(#[from] io::Error),
}

/// One record read from the log, to be acknowledged with [`SegmentLog::ack`] once delivered.
#[derive(Debug)]
pub struct Record {
    /// Segment id.
    pub segment: u64,
    /// Index of the record in its segment.
    pub index: u32,
    /// Item count written with the record.
    pub items: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// File length in bytes.
    len: u64,
    /// Records written.
    records: u32,
    /// Items per record not yet acknowledged, by index (for drop accounting).
    pending: BTreeMap<u32, u32>,
    /// Open `.ack` file, appended with acknowledged indices.
    ack: Option<File>,
}

#[derive(Debug)]
struct Cursor {
    segment: u64,
    offset: u64,
    index: u32,
    file: Option<File>,
}

#[derive(Debug)]
struct State {
    segments: BTreeMap<u64, Segment>,
    /// The segment being appended to, with its open file.
    write: Option<(u64, File)>,
    next_id: u64,
    read: Cursor,
    closed: bool,
    /// Records and items appended or recovered and not yet acknowledged or dropped.
    pending_records: u64,
    pending_items: u64,
    /// Records read and not yet acknowledged.
    in_flight: u64,
    /// Appended since the last sync.
    dirty: bool,
}

/// An append-only, CRC-checked queue log in one directory. See the module docs.
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    storage: FileStorage,
    state: Mutex<State>,
    readable: Notify,
    dropped_items: AtomicU64,
}

fn segment_path(dir: &Path, id: u64, ext: &str) -> PathBuf {
    dir.join(format!("seg-{id:020}.{ext}"))
}

fn crc(items: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&items.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Scans a segment file: returns (valid length, record count, items per record).
fn scan(file: &mut File, len: u64) -> io::Result<(u64, u32, Vec<u32>)> {
    let mut magic = [0u8; 8];
    file.seek(SeekFrom::Start(0))?;
    if len < 8 || file.read_exact(&mut magic).is_err() || &magic != SEGMENT_MAGIC {
        return Ok((0, 0, Vec::new()));
    }
    let mut reader = io::BufReader::new(&mut *file);
    let mut off = 8u64;
    let mut items = Vec::new();
    let mut header = [0u8; RECORD_HEADER as usize];
    let mut payload = Vec::new();
    while off + RECORD_HEADER <= len {
        reader.read_exact(&mut header)?;
        let plen = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let sum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let n = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if plen > MAX_RECORD || off + RECORD_HEADER + plen > len {
            break;
        }
        payload.resize(plen as usize, 0);
        reader.read_exact(&mut payload)?;
        if crc(n, &payload) != sum {
            break;
        }
        off += RECORD_HEADER + plen;
        items.push(n);
    }
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    Ok((off, count, items))
}

fn read_acks(path: &Path) -> HashSet<u32> {
    let Ok(bytes) = fs::read(path) else {
        return HashSet::new();
    };
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentLog {
    /// Opens the log in `dir` (created if missing), recovering what is there. See the module
    /// docs for what recovery does with torn or corrupt tails.
    ///
    /// # Errors
    /// The directory cannot be created or listed, or a segment cannot be opened or truncated.
    pub fn open(dir: PathBuf, storage: FileStorage) -> io::Result<(SegmentLog, Recovery)> {
        fs::create_dir_all(&dir)?;
        let mut ids: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        let mut rec = Recovery::default();
        let mut segments = BTreeMap::new();
        let mut on_disk = 0u64;
        for id in ids {
            let path = segment_path(&dir, id, "log");
            let ack_path = segment_path(&dir, id, "ack");
            let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            let (valid, records, items) = scan(&mut file, len)?;
            if valid < len {
                rec.truncated_bytes += len - valid;
                rec.corrupt_segments += 1;
                tracing::warn!(
                    segment = %path.display(),
                    cut_bytes = len - valid,
                    kept_records = records,
                    "persistent queue segment has a torn or corrupt tail; truncated"
                );
            }
            if valid < 8 {
                // Not even a header: nothing to keep.
                drop(file);
                fs::remove_file(&path)?;
                let _ = fs::remove_file(&ack_path);
                continue;
            }
            if valid < len {
                file.set_len(valid)?;
                file.sync_all()?;
            }
            let skip = read_acks(&ack_path);
            let pending: BTreeMap<u32, u32> = items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let i = u32::try_from(i).ok()?;
                    (!skip.contains(&i)).then_some((i, *n))
                })
                .collect();
            if pending.is_empty() {
                fs::remove_file(&path)?;
                let _ = fs::remove_file(&ack_path);
                continue;
            }
            rec.records += pending.len() as u64;
            rec.items += pending.values().map(|n| u64::from(*n)).sum::<u64>();
            on_disk += valid;
            let ack = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&ack_path)?;
            segments.insert(
                id,
                Segment {
                    path,
                    len: valid,
                    records,
                    pending,
                    ack: Some(ack),
                },
            );
        }
        storage.used.fetch_add(on_disk, Ordering::AcqRel);
        let first = segments.keys().next().copied().unwrap_or(1);
        let next_id = segments.keys().next_back().map_or(1, |id| id + 1);
        let log = SegmentLog {
            dir,
            storage,
            state: Mutex::new(State {
                segments,
                write: None,
                next_id,
                read: Cursor {
                    segment: first,
                    offset: 8,
                    index: 0,
                    file: None,
                },
                closed: false,
                pending_records: rec.records,
                pending_items: rec.items,
                in_flight: 0,
                dirty: false,
            }),
            readable: Notify::new(),
            dropped_items: AtomicU64::new(0),
        };
        Ok((log, rec))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one record of `items` items. Durable per the storage's [`Fsync`] when this
    /// returns `Ok`.
    ///
    /// # Errors
    /// [`AppendError::Full`] at the size limit under [`WhenFull::Refuse`] (or when nothing can
    /// be dropped), [`AppendError::Closed`] after [`Self::close`], [`AppendError::Io`].
    pub fn append(&self, items: u32, payload: &[u8]) -> Result<(), AppendError> {
        let size = RECORD_HEADER + payload.len() as u64;
        let mut st = self.lock();
        if st.closed {
            return Err(AppendError::Closed);
        }
        // Room: this record, plus a new segment header if it starts one.
        loop {
            let used = self.storage.used.load(Ordering::Acquire);
            if used + size + 8 <= self.storage.max_bytes {
                break;
            }
            if self.storage.when_full == WhenFull::Refuse || !self.drop_oldest(&mut st) {
                return Err(AppendError::Full {
                    used,
                    max: self.storage.max_bytes,
                });
            }
        }
        let rotate = match &st.write {
            Some((id, _)) => st.segments[id].len + size > self.storage.segment_bytes,
            None => true,
        };
        if rotate {
            self.rotate(&mut st)?;
        }
        let mut buf = Vec::with_capacity(size as usize);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc(items, payload).to_le_bytes());
        buf.extend_from_slice(&items.to_le_bytes());
        buf.extend_from_slice(payload);
        let Some((id, file)) = st.write.as_mut() else {
            return Err(AppendError::Io(io::Error::other("no segment open")));
        };
        let id = *id;
        file.write_all(&buf)?;
        if self.storage.fsync == Fsync::Always {
            file.sync_data()?;
        }
        let seg = st.segments.get_mut(&id).expect("write segment is listed");
        let index = seg.records;
        seg.records += 1;
        seg.len += size;
        seg.pending.insert(index, items);
        st.pending_records += 1;
        st.pending_items += u64::from(items);
        st.dirty = true;
        self.storage.used.fetch_add(size, Ordering::AcqRel);
        drop(st);
        self.readable.notify_one();
        Ok(())
    }

    /// Closes the current write segment (synced unless `fsync: never`) and starts the next.
    fn rotate(&self, st: &mut State) -> io::Result<()> {
        if let Some((_, f)) = st.write.take()
            && self.storage.fsync != Fsync::Never
        {
            f.sync_data()?;
        }
        let id = st.next_id;
        st.next_id += 1;
        let path = segment_path(&self.dir, id, "log");
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        file.write_all(SEGMENT_MAGIC)?;
        let ack = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, id, "ack"))?;
        if self.storage.fsync != Fsync::Never {
            file.sync_data()?;
            sync_dir(&self.dir)?;
        }
        self.storage.used.fetch_add(8, Ordering::AcqRel);
        st.segments.insert(
            id,
            Segment {
                path,
                len: 8,
                records: 0,
                pending: BTreeMap::new(),
                ack: Some(ack),
            },
        );
        st.write = Some((id, file));
        // A reader parked past the last segment moves on to the new one.
        self.reclaim(st);
        Ok(())
    }

    /// Deletes the oldest segment that is not being written; returns false if there is none.
    fn drop_oldest(&self, st: &mut State) -> bool {
        let write_id = st.write.as_ref().map(|(id, _)| *id);
        let Some(id) = st.segments.keys().copied().find(|id| Some(*id) != write_id) else {
            return false;
        };
        let seg = st.segments.remove(&id).expect("listed");
        let items: u64 = seg.pending.values().map(|n| u64::from(*n)).sum();
        st.pending_records -= seg.pending.len() as u64;
        st.pending_items -= items;
        self.dropped_items.fetch_add(items, Ordering::Relaxed);
        tracing::warn!(
            segment = %seg.path.display(),
            dropped_items = items,
            "persistent queue is full; dropped its oldest segment (when_full: drop_oldest)"
        );
        self.delete(id, seg);
        if st.read.segment <= id {
            st.read = Cursor {
                segment: id + 1,
                offset: 8,
                index: 0,
                file: None,
            };
        }
        true
    }

    fn delete(&self, id: u64, seg: Segment) {
        drop(seg.ack);
        let _ = fs::remove_file(&seg.path);
        let _ = fs::remove_file(segment_path(&self.dir, id, "ack"));
        self.storage.used.fetch_sub(seg.len, Ordering::AcqRel);
    }

    /// Deletes fully acknowledged segments other than the one being written.
    fn reclaim(&self, st: &mut State) {
        let write_id = st.write.as_ref().map(|(id, _)| *id);
        let done: Vec<u64> = st
            .segments
            .iter()
            .filter(|(id, s)| Some(**id) != write_id && s.pending.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(seg) = st.segments.remove(&id) {
                self.delete(id, seg);
            }
        }
    }

    /// The next unread record, or `None` when everything written has been read.
    ///
    /// # Errors
    /// A segment cannot be read (it was removed or damaged while running).
    pub fn try_next(&self) -> io::Result<Option<Record>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let write_id = st.write.as_ref().map(|(w, _)| *w);
        loop {
            let State { segments, read, .. } = &mut *st;
            // Skip segments that are gone (dropped or reclaimed).
            let Some((&id, seg)) = segments.range_mut(read.segment..).next() else {
                return Ok(None);
            };
            if id != read.segment {
                *read = Cursor {
                    segment: id,
                    offset: 8,
                    index: 0,
                    file: None,
                };
            }
            if read.index >= seg.records {
                if write_id == Some(id) {
                    return Ok(None);
                }
                *read = Cursor {
                    segment: id + 1,
                    offset: 8,
                    index: 0,
                    file: None,
                };
                continue;
            }
            if read.file.is_none() {
                let mut f = File::open(&seg.path)?;
                f.seek(SeekFrom::Start(read.offset))?;
                read.file = Some(f);
            }
            let f = read.file.as_mut().expect("opened above");
            let mut header = [0u8; RECORD_HEADER as usize];
            f.read_exact(&mut header)?;
            let plen = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let items = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
            let mut payload = vec![0u8; plen as usize];
            f.read_exact(&mut payload)?;
            let index = read.index;
            read.index += 1;
            read.offset += RECORD_HEADER + u64::from(plen);
            if !seg.pending.contains_key(&index) {
                continue; // acknowledged before a restart
            }
            st.in_flight += 1;
            return Ok(Some(Record {
                segment: id,
                index,
                items,
                payload,
            }));
        }
    }

    /// Waits for the next record; `None` once the log is closed.
    ///
    /// # Errors
    /// As [`Self::try_next`].
    pub async fn next(&self) -> io::Result<Option<Record>> {
        loop {
            let notified = self.readable.notified();
            if self.lock().closed {
                return Ok(None);
            }
            if let Some(r) = self.try_next()? {
                return Ok(Some(r));
            }
            notified.await;
        }
    }

    /// Marks a record delivered (or given up on): it will not be read again, even after a
    /// restart, and its segment is deleted once all its records are.
    pub fn ack(&self, segment: u64, index: u32) {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        let Some(seg) = st.segments.get_mut(&segment) else {
            return; // dropped while in flight
        };
        let Some(items) = seg.pending.remove(&index) else {
            return;
        };
        if let Some(f) = seg.ack.as_mut() {
            // Best effort: a lost ack entry means a duplicate after restart, not a loss.
            let _ = f.write_all(&index.to_le_bytes());
        }
        st.pending_records -= 1;
        st.pending_items -= u64::from(items);
        self.reclaim(&mut st);
    }

    /// Gives a record back unacknowledged (a consumer stopping mid-retry): it stays on disk and
    /// is delivered after the next open.
    pub fn release(&self, _record: Record) {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
    }

    /// Syncs the write segment if anything was appended since the last sync.
    ///
    /// # Errors
    /// The sync failed.
    pub fn sync(&self) -> io::Result<()> {
        let mut st = self.lock();
        if !st.dirty {
            return Ok(());
        }
        st.dirty = false;
        if let Some((_, f)) = &st.write {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Stops appends and wakes readers (they get `None`); syncs unless `fsync: never`.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        if self.storage.fsync != Fsync::Never
            && let Some((_, f)) = &st.write
        {
            let _ = f.sync_data();
        }
        for seg in st.segments.values_mut() {
            if let Some(f) = seg.ack.take() {
                drop(f);
            }
        }
        drop(st);
        self.readable.notify_waiters();
    }

    /// Moves the read cursor back to the oldest segment, so every record not yet acknowledged
    /// is read again, including those read and given back with [`Self::release`] (a stopped
    /// consumer's). For a reader taking the whole queue over once its consumers have stopped;
    /// records still held by a running consumer would be read twice.
    pub fn rewind(&self) {
        let mut st = self.lock();
        let first = st.segments.keys().next().copied().unwrap_or(st.next_id);
        st.read = Cursor {
            segment: first,
            offset: 8,
            index: 0,
            file: None,
        };
        st.in_flight = 0;
    }

    /// Once closed with nothing left to deliver: deletes the remaining (fully acknowledged)
    /// segment files and the log's directory, and returns true. A log that still holds records,
    /// or is open for appends, is left as it is (false).
    ///
    /// # Errors
    /// The directory could not be removed.
    pub fn remove_if_drained(&self) -> io::Result<bool> {
        let mut st = self.lock();
        if !st.closed || st.pending_records > 0 {
            return Ok(false);
        }
        st.write = None;
        for (id, seg) in std::mem::take(&mut st.segments) {
            self.delete(id, seg);
        }
        drop(st);
        match fs::remove_dir(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The directory this log lives in.
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    /// Records and items waiting for delivery (including those being delivered).
    pub fn pending(&self) -> (u64, u64) {
        let st = self.lock();
        (st.pending_records, st.pending_items)
    }

    /// Items lost to [`WhenFull::DropOldest`] since open.
    pub fn dropped_items(&self) -> u64 {
        self.dropped_items.load(Ordering::Relaxed)
    }

    /// The policy and limits this log was opened with.
    pub fn storage(&self) -> &FileStorage {
        &self.storage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path, max: u64, seg: u64, when_full: WhenFull) -> FileStorage {
        FileStorage::new(
            dir.to_path_buf(),
            Fsync::Never,
            Duration::from_secs(1),
            max,
            seg,
            when_full,
        )
    }

    fn drain(log: &SegmentLog) -> Vec<Record> {
        std::iter::from_fn(|| log.try_next().unwrap()).collect()
    }

    /// A stopped consumer's records (read, released) are read again after a rewind, acked
    /// ones are not; once everything is acknowledged and the log closed, its files and
    /// directory go and the storage's byte count returns to zero.
    #[test]
    fn rewind_rereads_the_unacknowledged_and_a_drained_log_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1 << 20, 100, WhenFull::Refuse);
        let (log, _) = st.open("lb/b_traces").unwrap();
        for i in 0..6u32 {
            log.append(1, format!("r{i}").as_bytes()).unwrap();
        }
        let got = drain(&log);
        log.ack(got[1].segment, got[1].index);
        for r in got.into_iter().filter(|r| r.payload != b"r1") {
            log.release(r);
        }
        assert!(log.try_next().unwrap().is_none());
        log.rewind();
        let again = drain(&log);
        let payloads: Vec<_> = again.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(payloads.len(), 5, "{payloads:?}");
        assert!(!payloads.contains(&b"r1".to_vec()));
        assert!(!log.remove_if_drained().unwrap(), "open, with data");
        for r in &again {
            log.ack(r.segment, r.index);
        }
        assert!(!log.remove_if_drained().unwrap(), "still open for appends");
        log.close();
        assert!(log.remove_if_drained().unwrap());
        assert!(!tmp.path().join("lb_b_traces").exists());
        assert_eq!(st.used_bytes(), 0);
    }

    #[test]
    fn appends_read_back_in_order_and_survive_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1 << 20, 100, WhenFull::Refuse);
        let (log, rec) = st.open("otlp/up_traces").unwrap();
        assert_eq!(rec, Recovery::default());
        for i in 0..10u32 {
            log.append(i, format!("payload-{i}").as_bytes()).unwrap();
        }
        assert_eq!(log.pending(), (10, 45));
        // Small segments: several files.
        let files = fs::read_dir(tmp.path().join("otlp_up_traces"))
            .unwrap()
            .count();
        assert!(files > 4, "{files} files");
        let got = drain(&log);
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.payload, format!("payload-{i}").as_bytes());
            assert_eq!(r.items, i as u32);
        }
        // Acknowledge the first 4; the rest come back after a reopen.
        for r in &got[..4] {
            log.ack(r.segment, r.index);
        }
        assert_eq!(log.pending(), (6, 39));
        log.close();
        drop(log);
        let st2 = storage(tmp.path(), 1 << 20, 100, WhenFull::Refuse);
        let (log, rec) = st2.open("otlp/up_traces").unwrap();
        assert_eq!((rec.records, rec.items, rec.truncated_bytes), (6, 39, 0));
        let again: Vec<_> = drain(&log).into_iter().map(|r| r.payload).collect();
        let want: Vec<_> = (4..10)
            .map(|i| format!("payload-{i}").into_bytes())
            .collect();
        assert_eq!(again, want);
        assert_eq!(st2.used_bytes(), {
            let dir = tmp.path().join("otlp_up_traces");
            fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| e.metadata().unwrap().len())
                .sum::<u64>()
        });
    }

    #[test]
    fn acknowledged_segments_are_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1 << 20, 64, WhenFull::Refuse);
        let (log, _) = st.open("q").unwrap();
        for _ in 0..20 {
            log.append(1, &[7u8; 30]).unwrap();
        }
        for r in drain(&log) {
            log.ack(r.segment, r.index);
        }
        // Only the segment being written remains.
        let logs = fs::read_dir(tmp.path().join("q"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".log")
            })
            .count();
        assert_eq!(logs, 1);
        assert_eq!(log.pending(), (0, 0));
    }

    #[test]
    fn torn_and_corrupt_tails_are_truncated_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1 << 20, 1 << 20, WhenFull::Refuse);
        let (log, _) = st.open("q").unwrap();
        for i in 0..5u32 {
            log.append(1, &[i as u8; 100]).unwrap();
        }
        log.close();
        drop(log);
        let seg = segment_path(&tmp.path().join("q"), 1, "log");
        let len = fs::metadata(&seg).unwrap().len();
        // Flip a payload byte of the last record, then append half a header (a torn write).
        let mut bytes = fs::read(&seg).unwrap();
        let last = (len - 10) as usize;
        bytes[last] ^= 0xff;
        bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
        fs::write(&seg, &bytes).unwrap();
        let (log, rec) = storage(tmp.path(), 1 << 20, 1 << 20, WhenFull::Refuse)
            .open("q")
            .unwrap();
        assert_eq!(rec.records, 4);
        assert_eq!(rec.corrupt_segments, 1);
        assert_eq!(rec.truncated_bytes, RECORD_HEADER + 100 + 5);
        assert_eq!(fs::metadata(&seg).unwrap().len(), len - RECORD_HEADER - 100);
        let got: Vec<u8> = drain(&log).iter().map(|r| r.payload[0]).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        // A file of garbage with no magic is removed whole.
        fs::write(segment_path(&tmp.path().join("q"), 99, "log"), b"garbage").unwrap();
        log.close();
        drop(log);
        let (_, rec) = storage(tmp.path(), 1 << 20, 1 << 20, WhenFull::Refuse)
            .open("q")
            .unwrap();
        assert_eq!(rec.truncated_bytes, 7);
        assert!(!segment_path(&tmp.path().join("q"), 99, "log").exists());
    }

    #[test]
    fn full_storage_refuses_or_drops_oldest() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1000, 300, WhenFull::Refuse);
        let (log, _) = st.open("q").unwrap();
        let mut ok = 0;
        let err = loop {
            match log.append(2, &[0u8; 88]) {
                Ok(()) => ok += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, AppendError::Full { .. }), "{err}");
        assert!(st.used_bytes() <= 1000);
        assert_eq!(log.pending().0, ok);

        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1000, 300, WhenFull::DropOldest);
        let (log, _) = st.open("q").unwrap();
        for i in 0..50u32 {
            log.append(2, &[i as u8; 88]).unwrap();
            assert!(st.used_bytes() <= 1000, "{}", st.used_bytes());
        }
        assert!(log.dropped_items() > 0);
        let (records, items) = log.pending();
        assert_eq!(items, records * 2);
        assert_eq!(records * 2 + log.dropped_items(), 100);
        // The newest records are kept, in order.
        let got: Vec<u8> = drain(&log).iter().map(|r| r.payload[0]).collect();
        assert_eq!(*got.last().unwrap(), 49);
        assert!(got.windows(2).all(|w| w[0] + 1 == w[1]), "{got:?}");
    }

    #[tokio::test]
    async fn next_waits_for_appends_and_ends_at_close() {
        let tmp = tempfile::tempdir().unwrap();
        let st = storage(tmp.path(), 1 << 20, 1 << 20, WhenFull::Refuse);
        let (log, _) = st.open("q").unwrap();
        let log = Arc::new(log);
        let reader = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(r) = log.next().await.unwrap() {
                    log.ack(r.segment, r.index);
                    n += 1;
                    if n == 3 {
                        break;
                    }
                }
                n
            })
        };
        for _ in 0..3 {
            tokio::task::yield_now().await;
            log.append(1, b"x").unwrap();
        }
        assert_eq!(reader.await.unwrap(), 3);
        log.close();
        assert!(log.next().await.unwrap().is_none());
        assert!(matches!(log.append(1, b"y"), Err(AppendError::Closed)));
    }
}
