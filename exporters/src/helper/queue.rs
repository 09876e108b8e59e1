//! The two sending-queue backends: in memory (a bounded deque whose bytes count in the
//! process's memory budget) and persistent (a [`SegmentLog`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_pipelines::SignalData;
use strata_pipelines::auth::{ClientContext, envelope};
use strata_pipelines::memory::{self, Reservation};
use strata_pipelines::storage::{AppendError, Fsync, Record, SegmentLog};
use tokio::sync::Notify;

use super::config::Sizer;
use super::payload::Payload;

/// Why an offer was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No room (`queue_size` or the storage limit).
    #[error("sending queue is full ({0})")]
    Full(String),
    /// The queue no longer accepts data (shutting down).
    #[error("sending queue is closed (shutting down)")]
    Closed,
    /// The persistent queue could not write.
    #[error("persistent queue write failed: {0}")]
    Io(std::io::Error),
}

/// The size of `data` in `sizer` units.
pub fn units<T: SignalData>(sizer: Sizer, data: &Payload<T>) -> u64 {
    match sizer {
        Sizer::Requests => 1,
        Sizer::Items => data.item_count() as u64,
        Sizer::Bytes => data.encoded_len() as u64,
    }
}

/// One queued request in memory, with the memory it holds.
pub struct MemEntry<T> {
    /// The request.
    pub data: Payload<T>,
    /// The client context the request was received with (tenant, metadata); requests of two
    /// contexts are never merged.
    pub ctx: Option<Arc<ClientContext>>,
    units: u64,
    _mem: Vec<Reservation>,
}

impl<T: SignalData> MemEntry<T> {
    /// True when `other` may be merged into this entry: both carry the same client context.
    pub fn same_context(&self, other: &MemEntry<T>) -> bool {
        self.ctx == other.ctx
    }

    /// Merges `other` (of the same context) into this entry (its items after this one's), keeping its memory
    /// reservation and queue units, so a requeue restores both.
    pub fn absorb(&mut self, mut other: MemEntry<T>) {
        self.data.append(std::mem::take(&mut other.data));
        self.units += other.units;
        self._mem.append(&mut other._mem);
    }
}

struct MemState<T> {
    q: VecDeque<MemEntry<T>>,
    used: u64,
    closed: bool,
}

/// A bounded in-memory queue of requests. Shared by `Arc` so that a reload can hand it to
/// the next graph's exporter with the same id.
pub struct MemQueue<T> {
    st: Mutex<MemState<T>>,
    capacity: AtomicU64,
    sizer: Mutex<Sizer>,
    readable: Notify,
    writable: Notify,
}

impl<T: SignalData> MemQueue<T> {
    /// An empty queue of `capacity` `sizer` units.
    pub fn new(capacity: u64, sizer: Sizer) -> Self {
        MemQueue {
            st: Mutex::new(MemState {
                q: VecDeque::new(),
                used: 0,
                closed: false,
            }),
            capacity: AtomicU64::new(capacity),
            sizer: Mutex::new(sizer),
            readable: Notify::new(),
            writable: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState<T>> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a new config's size (on reload) and reopens the queue.
    pub fn reconfigure(&self, capacity: u64, sizer: Sizer) {
        self.capacity.store(capacity, Ordering::Release);
        let mut s = self.sizer.lock().unwrap_or_else(|p| p.into_inner());
        if *s != sizer {
            *s = sizer;
            let mut st = self.lock();
            st.used = st.q.iter().map(|e| units(sizer, &e.data)).sum();
            for e in st.q.iter_mut() {
                e.units = units(sizer, &e.data);
            }
        }
        self.lock().closed = false;
    }

    /// Queues `data`; with `block`, waits for room instead of refusing.
    ///
    /// # Errors
    /// [`Refused::Full`] or [`Refused::Closed`].
    pub async fn offer(
        &self,
        data: Payload<T>,
        ctx: Option<Arc<ClientContext>>,
        block: bool,
    ) -> Result<(), Refused> {
        let sizer = *self.sizer.lock().unwrap_or_else(|p| p.into_inner());
        let n = units(sizer, &data);
        let mem = memory::global().reserve(data.heap_size() as u64);
        loop {
            let room = self.writable.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return Err(Refused::Closed);
                }
                let cap = self.capacity.load(Ordering::Acquire);
                // An empty queue takes one request of any size, so nothing is starved.
                if st.used + n <= cap || st.q.is_empty() {
                    st.used += n;
                    st.q.push_back(MemEntry {
                        data,
                        ctx,
                        units: n,
                        _mem: vec![mem],
                    });
                    drop(st);
                    self.readable.notify_one();
                    return Ok(());
                }
                if !block {
                    return Err(Refused::Full(format!(
                        "{} of {cap} {sizer:?} used",
                        st.used
                    )));
                }
            }
            room.await;
        }
    }

    /// The next request; waits while empty; `None` once closed and empty.
    pub async fn take(&self) -> Option<MemEntry<T>> {
        loop {
            let more = self.readable.notified();
            {
                let mut st = self.lock();
                if let Some(e) = st.q.pop_front() {
                    st.used -= e.units;
                    drop(st);
                    self.writable.notify_one();
                    return Some(e);
                }
                if st.closed {
                    return None;
                }
            }
            more.await;
        }
    }

    /// Puts a taken request back at the front (a consumer stopped before it was delivered).
    pub fn requeue(&self, e: MemEntry<T>) {
        let mut st = self.lock();
        st.used += e.units;
        st.q.push_front(e);
    }

    /// Removes and returns everything queued (a `loadbalancing` backend leaving: its data is
    /// routed to the new owners).
    pub fn drain(&self) -> Vec<MemEntry<T>> {
        let mut st = self.lock();
        st.used = 0;
        let out = st.q.drain(..).collect();
        drop(st);
        self.writable.notify_waiters();
        out
    }

    /// Refuses new offers and wakes everyone; consumers drain what is left.
    pub fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }

    /// `sizer` units used now (O(1): what the queue-size gauge reads on every request).
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    /// Why no request would fit now (`used` at or over the capacity, and the queue not empty,
    /// since an empty queue takes one request of any size), or `None` when one might.
    pub fn full(&self) -> Option<String> {
        let st = self.lock();
        let cap = self.capacity.load(Ordering::Acquire);
        (st.used >= cap && !st.q.is_empty()).then(|| {
            let sizer = *self.sizer.lock().unwrap_or_else(|p| p.into_inner());
            format!("{} of {cap} {sizer:?} used", st.used)
        })
    }

    /// (`sizer` units used, requests, items) now; walks the queue to count items.
    pub fn size(&self) -> (u64, usize, u64) {
        let st = self.lock();
        (
            st.used,
            st.q.len(),
            st.q.iter().map(|e| e.data.item_count() as u64).sum(),
        )
    }
}

/// A persistent queue over a [`SegmentLog`]: requests are stored encoded.
pub struct DiskQueue {
    /// The log.
    pub log: Arc<SegmentLog>,
    capacity: u64,
    sizer: Sizer,
    dropped_seen: AtomicU64,
}

impl DiskQueue {
    /// Items lost to `when_full: drop_oldest` since the last call.
    pub fn take_dropped(&self) -> u64 {
        let now = self.log.dropped_items();
        now - self.dropped_seen.swap(now, Ordering::AcqRel).min(now)
    }

    /// A queue over `log` bounded by `capacity` `sizer` units (and the storage's byte limit).
    pub fn new(log: SegmentLog, capacity: u64, sizer: Sizer) -> Self {
        DiskQueue {
            log: Arc::new(log),
            capacity,
            sizer,
            dropped_seen: AtomicU64::new(0),
        }
    }

    /// Encodes and appends `data`; `Ok` means it is on disk (synced under `fsync: always`).
    ///
    /// # Errors
    /// [`Refused::Full`] at `queue_size` or the storage limit, [`Refused::Closed`],
    /// [`Refused::Io`].
    pub async fn offer<T: SignalData>(
        &self,
        data: &Payload<T>,
        ctx: Option<&ClientContext>,
    ) -> Result<(), Refused> {
        let (records, items) = self.log.pending();
        let n = data.item_count() as u64;
        let over = match self.sizer {
            Sizer::Requests => records + 1 > self.capacity,
            Sizer::Items => items + n > self.capacity && records > 0,
            Sizer::Bytes => false, // the storage's max_size bounds bytes
        };
        if over {
            return Err(Refused::Full(format!(
                "{records} requests, {items} items queued; queue_size {} {:?}",
                self.capacity, self.sizer
            )));
        }
        let payload = match ctx {
            None => data.to_bytes(),
            Some(c) => envelope(Some(c), &data.to_bytes()).into(),
        };
        let items = u32::try_from(n).unwrap_or(u32::MAX);
        let res = if self.log.storage().fsync == Fsync::Always {
            let log = self.log.clone();
            tokio::task::spawn_blocking(move || log.append(items, &payload))
                .await
                .map_err(|e| Refused::Io(std::io::Error::other(e)))?
        } else {
            self.log.append(items, &payload)
        };
        res.map_err(|e| match e {
            AppendError::Full { .. } => Refused::Full(e.to_string()),
            AppendError::Closed => Refused::Closed,
            AppendError::Io(io) => Refused::Io(io),
        })
    }

    /// The next stored request; `None` once closed.
    ///
    /// # Errors
    /// A segment could not be read.
    pub async fn take(&self) -> std::io::Result<Option<Record>> {
        self.log.next().await
    }

    /// `sizer` units used now.
    pub fn used(&self) -> u64 {
        self.size().0
    }

    /// Why no request would fit now (`queue_size` reached, in requests or items), or `None`
    /// when one might (the storage's byte limit is checked at append).
    pub fn full(&self) -> Option<String> {
        let (records, items) = self.log.pending();
        let full = match self.sizer {
            Sizer::Requests => records >= self.capacity,
            Sizer::Items => items >= self.capacity && records > 0,
            Sizer::Bytes => false,
        };
        full.then(|| {
            format!(
                "{records} requests, {items} items queued; queue_size {} {:?}",
                self.capacity, self.sizer
            )
        })
    }

    /// (`sizer` units used, requests, items) now.
    pub fn size(&self) -> (u64, usize, u64) {
        let (records, items) = self.log.pending();
        let used = match self.sizer {
            Sizer::Requests => records,
            Sizer::Items => items,
            Sizer::Bytes => self.log.storage().used_bytes(),
        };
        (used, records as usize, items)
    }
}
