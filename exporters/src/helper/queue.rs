//! The two sending-queue backends: in memory (a bounded deque whose bytes count in the
//! process's memory budget) and persistent (a [`SegmentLog`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_pipelines::SignalData;
use strata_pipelines::auth::{ClientContext, envelope, open_envelope};
use strata_pipelines::memory::{self, Reservation};
use strata_pipelines::storage::{AppendError, Fsync, Record, SegmentLog};
use strata_pipelines::wire::Encoded;
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

/// Reads a persistent-queue record: the client-context envelope and the OTLP request after it,
/// kept encoded (`encoded`, sliced, not copied) or decoded.
///
/// # Errors
/// The envelope or the request cannot be read (the record is unusable).
pub fn parse_record<T: SignalData>(
    payload: Vec<u8>,
    encoded: bool,
) -> Result<(Option<Arc<ClientContext>>, Payload<T>), String> {
    let payload = bytes::Bytes::from(payload);
    let (ctx, otlp) = open_envelope(&payload)?;
    let otlp = payload.slice(payload.len() - otlp.len()..);
    let data = if encoded {
        Encoded::<T>::new(otlp)
            .map(Payload::Encoded)
            .map_err(|e| e.to_string())?
    } else {
        T::decode(&otlp[..])
            .map(Payload::Decoded)
            .map_err(|e| e.to_string())?
    };
    Ok((ctx.map(Arc::new), data))
}

/// Closes a taken-over persistent log once its reader and every request read from it are
/// gone, and removes its directory when nothing is left in it.
struct Closing(Arc<SegmentLog>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
        let (records, items) = self.0.pending();
        match self.0.remove_if_drained() {
            Ok(true) => {}
            Ok(false) => tracing::info!(queue = %self.0.directory().display(), records, items,
                "data not handed over stays in the persistent queue"),
            Err(e) => tracing::warn!(queue = %self.0.directory().display(), error = %e,
                "cannot remove the emptied persistent queue"),
        }
    }
}

/// One request of a queue taken over from a stopped exporter (see [`Taken`]).
pub struct TakenRequest<T: SignalData> {
    /// The sender's client context it was queued with.
    pub ctx: Option<Arc<ClientContext>>,
    /// The request.
    pub payload: Payload<T>,
    /// Where it is stored: acknowledged through this once handed over.
    pub receipt: Receipt,
}

/// Where a [`TakenRequest`] is stored, for a persistent queue.
pub struct Receipt(Option<(Arc<Closing>, u64, u32)>);

impl Receipt {
    /// The request is safely elsewhere (queued for another exporter): a persistent queue
    /// acknowledges its record, so it is neither sent nor handed over again. A request
    /// whose receipt is dropped without this stays in its persistent queue (an in-memory
    /// one is gone).
    pub fn handed_over(self) {
        if let Some((log, segment, index)) = self.0 {
            log.0.ack(segment, index);
        }
    }

    /// True when the request is in a persistent queue (it stays there unless handed over).
    pub fn is_stored(&self) -> bool {
        self.0.is_some()
    }
}

/// What a stopped exporter's sending queue held, request by request, oldest first, with each
/// request's client context: for a `loadbalancing` backend that left, whose data goes to the
/// new owners of its keys.
///
/// An in-memory queue's requests are taken out of it. A persistent queue's records are read
/// one at a time (the queue may be larger than memory) and stay on disk until
/// [`Receipt::handed_over`]; once all are, the queue's directory is removed. Records that
/// cannot be read are acknowledged, counted in [`Taken::unreadable`] and logged.
pub struct Taken<T: SignalData> {
    mem: std::vec::IntoIter<MemEntry<T>>,
    disk: Option<(Arc<Closing>, bool)>,
    /// Items of records that could not be read (dropped).
    pub unreadable: u64,
}

impl<T: SignalData> Taken<T> {
    /// Nothing.
    pub fn empty() -> Self {
        Taken {
            mem: Vec::new().into_iter(),
            disk: None,
            unreadable: 0,
        }
    }

    /// The entries of an in-memory queue.
    pub fn memory(entries: Vec<MemEntry<T>>) -> Self {
        Taken {
            mem: entries.into_iter(),
            disk: None,
            unreadable: 0,
        }
    }

    /// Every record of `log` not yet acknowledged, from the oldest (the log's readers must
    /// have stopped); kept `encoded` or decoded. The log is closed when the last request is
    /// dropped.
    pub fn persistent(log: Arc<SegmentLog>, encoded: bool) -> Self {
        log.rewind();
        Taken {
            mem: Vec::new().into_iter(),
            disk: Some((Arc::new(Closing(log)), encoded)),
            unreadable: 0,
        }
    }

    /// The next request; `None` at the end (or when a persistent queue cannot be read: what
    /// is left stays on disk, logged).
    pub fn next_request(&mut self) -> Option<TakenRequest<T>> {
        if let Some(e) = self.mem.next() {
            return Some(TakenRequest {
                ctx: e.ctx,
                payload: e.data,
                receipt: Receipt(None),
            });
        }
        let (log, encoded) = self.disk.as_ref()?;
        loop {
            let rec = match log.0.try_next() {
                Ok(Some(rec)) => rec,
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(queue = %log.0.directory().display(), error = %e,
                        "cannot read the persistent queue being handed over; the rest stays on disk");
                    return None;
                }
            };
            match parse_record::<T>(rec.payload, *encoded) {
                Ok((ctx, payload)) => {
                    return Some(TakenRequest {
                        ctx,
                        payload,
                        receipt: Receipt(Some((log.clone(), rec.segment, rec.index))),
                    });
                }
                Err(e) => {
                    self.unreadable += u64::from(rec.items);
                    tracing::error!(queue = %log.0.directory().display(), segment = rec.segment,
                        index = rec.index, error = %e, "unreadable record in the persistent queue; dropped");
                    log.0.ack(rec.segment, rec.index);
                }
            }
        }
    }
}
