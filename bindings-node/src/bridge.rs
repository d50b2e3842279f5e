//! The two places where JavaScript and the core's threads meet: a Node Readable stream read
//! as a `std::io::Read`, and a JavaScript callback called as a core `Sink`.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_ingest as core;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;

use crate::{SinkBatch, SinkRow};

// ---------------------------------------------------------------------------------------------
// Readable stream → Read

/// Chunks in flight between the stream and the core (each one `data` event, 64 KiB by default).
const STREAM_DEPTH: usize = 8;

enum Msg {
    Data(Vec<u8>),
    /// Something happened (end, error, close): look at `Feed::finish`.
    Wake,
}

/// What the stream's listeners share with the reading thread.
struct Feed {
    tx: SyncSender<Msg>,
    /// The chunk that found the channel full: the stream is paused until the reader takes it.
    parked: Mutex<Option<Vec<u8>>>,
    /// `Ok` once the stream ended, `Err` when it failed or closed early.
    finish: Mutex<Option<std::result::Result<(), String>>>,
}

impl Feed {
    /// Called on the JavaScript thread with each chunk. `true`: pause the stream.
    fn push(&self, chunk: Vec<u8>) -> bool {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        match self.tx.try_send(Msg::Data(chunk)) {
            Ok(()) => false,
            Err(TrySendError::Full(Msg::Data(c))) => {
                *parked = Some(c);
                true
            }
            // The reader stopped (the upload was refused): drop what still comes.
            Err(_) => false,
        }
    }

    fn finish(&self, r: std::result::Result<(), String>) {
        let mut f = self.finish.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(r);
        }
        drop(f);
        let _ = self.tx.try_send(Msg::Wake);
    }
}

type ResumeFn = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

/// A `Read` over a Node Readable stream: `data` events feed a bounded channel; when it is full
/// the stream is paused, and resumed once the reader has caught up. The file never sits whole
/// in memory.
pub struct StreamReader {
    feed: Arc<Feed>,
    rx: Receiver<Msg>,
    resume: ResumeFn,
    cur: VecDeque<u8>,
    done: bool,
}

fn js_message(v: &Unknown) -> String {
    if v.is_error().unwrap_or(false) {
        // SAFETY: `is_error` said the value is an object.
        if let Ok(o) = unsafe { v.cast::<Object>() } {
            if let Ok(m) = o.get_named_property::<String>("message") {
                return m;
            }
        }
    }
    v.coerce_to_string()
        .and_then(|s| s.into_utf8())
        .and_then(|s| s.into_owned())
        .unwrap_or_else(|_| "a non-Error value was thrown".to_string())
}

impl StreamReader {
    /// Listens to `stream` (on the JavaScript thread).
    pub fn attach(env: &Env, stream: Object) -> napi::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(STREAM_DEPTH);
        let feed = Arc::new(Feed {
            tx,
            parked: Mutex::new(None),
            finish: Mutex::new(None),
        });
        let on: Function<FnArgs<(String, Function<Unknown, ()>)>, Unknown> =
            stream.get_named_property("on")?;
        let resume_fn: Function<(), Unknown> = stream.get_named_property("resume")?;
        let resume: ResumeFn = resume_fn
            .bind(stream)?
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .build()?;

        let f = Arc::clone(&feed);
        let on_data = env.create_function_from_closure("onData", move |ctx| {
            let v: Unknown = ctx.first_arg()?;
            let bytes = if v.is_buffer()? {
                // SAFETY: checked just above.
                unsafe { v.cast::<Buffer>() }?.to_vec()
            } else {
                // A stream with `setEncoding` gives strings.
                js_message(&v).into_bytes()
            };
            if f.push(bytes) {
                let this: Object = ctx.this()?;
                let pause: Function<(), Unknown> = this.get_named_property("pause")?;
                pause.apply(this, ())?;
            }
            Ok(())
        })?;
        let f = Arc::clone(&feed);
        let on_end = env.create_function_from_closure("onEnd", move |_ctx| {
            f.finish(Ok(()));
            Ok(())
        })?;
        let f = Arc::clone(&feed);
        let on_error = env.create_function_from_closure("onError", move |ctx| {
            let v: Unknown = ctx.first_arg()?;
            f.finish(Err(format!("the upload stream failed: {}", js_message(&v))));
            Ok(())
        })?;
        let f = Arc::clone(&feed);
        let on_close = env.create_function_from_closure("onClose", move |_ctx| {
            f.finish(Err("the upload stream closed before its end".to_string()));
            Ok(())
        })?;
        on.apply(stream, FnArgs::from(("error".to_string(), on_error)))?;
        on.apply(stream, FnArgs::from(("end".to_string(), on_end)))?;
        on.apply(stream, FnArgs::from(("close".to_string(), on_close)))?;
        on.apply(stream, FnArgs::from(("data".to_string(), on_data)))?;
        Ok(StreamReader {
            feed,
            rx,
            resume,
            cur: VecDeque::new(),
            done: false,
        })
    }

    /// The next chunk, `None` at the end of the stream.
    fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(Err(m)) = &*self.feed.finish.lock().unwrap_or_else(|e| e.into_inner()) {
                return Err(std::io::Error::other(m.clone()));
            }
            match self.rx.try_recv() {
                Ok(Msg::Data(c)) => return Ok(Some(c)),
                Ok(Msg::Wake) => continue,
                Err(TryRecvError::Disconnected) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the upload stream went away",
                    ))
                }
                Err(TryRecvError::Empty) => {}
            }
            // The channel is empty: a parked chunk (the stream waits for us) comes next, then
            // the end. Under the lock nothing new can arrive, so the order holds.
            let parked = self.feed.parked.lock().unwrap_or_else(|e| e.into_inner());
            let mut parked = parked;
            match self.rx.try_recv() {
                Ok(Msg::Data(c)) => return Ok(Some(c)),
                Ok(Msg::Wake) => continue,
                Err(_) => {}
            }
            if let Some(c) = parked.take() {
                drop(parked);
                self.resume
                    .call((), ThreadsafeFunctionCallMode::NonBlocking);
                return Ok(Some(c));
            }
            drop(parked);
            if let Some(Ok(())) = &*self.feed.finish.lock().unwrap_or_else(|e| e.into_inner()) {
                // After `end`, every `data` event has been seen; drain what is left.
                return match self.rx.try_recv() {
                    Ok(Msg::Data(c)) => Ok(Some(c)),
                    _ => Ok(None),
                };
            }
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Msg::Data(c)) => return Ok(Some(c)),
                Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the upload stream went away",
                    ))
                }
            }
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // The core stopped reading (the upload was refused or failed): let the stream flow
        // again so its remaining chunks are read off and dropped.
        let parked = self
            .feed
            .parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if parked.is_some() {
            self.resume
                .call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.next_chunk()? {
                Some(c) => self.cur = VecDeque::from(c),
                None => self.done = true,
            }
        }
        let (a, _) = self.cur.as_slices();
        let n = a.len().min(buf.len());
        buf[..n].copy_from_slice(&a[..n]);
        self.cur.drain(..n);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// JavaScript callback → Sink

/// A JavaScript sink callback, callable from the core's threads. Weak: a registered sink does
/// not keep the process alive.
pub type SinkFn = ThreadsafeFunction<SinkBatch, Unknown<'static>, SinkBatch, Status, false, true>;

/// Calls the JavaScript callback with each batch and blocks the committing thread until the
/// callback returns (or the promise it returns settles).
pub struct JsSink {
    f: SinkFn,
}

impl JsSink {
    pub fn new(f: SinkFn) -> napi::Result<Self> {
        Ok(JsSink { f })
    }
}

fn cell_value(c: core::Cell<'_>) -> serde_json::Value {
    use serde_json::Value;
    match c {
        core::Cell::Null => Value::Null,
        core::Cell::Bool(b) => Value::Bool(b),
        core::Cell::Int(v) => Value::from(v),
        core::Cell::Num(v) => serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        core::Cell::Str(s) => Value::String(s.to_string()),
    }
}

/// Where a sink callback's outcome goes.
type Outcome = mpsc::Sender<std::result::Result<(), String>>;

/// On the JavaScript thread: the callback's return value, settled.
fn settle(ret: napi::Result<Unknown<'static>>, tx: Outcome) -> napi::Result<()> {
    let v = match ret {
        Err(e) => {
            let _ = tx.send(Err(e.reason.clone()));
            return Ok(());
        }
        Ok(v) => v,
    };
    if !v.is_promise()? {
        let _ = tx.send(Ok(()));
        return Ok(());
    }
    // SAFETY: `is_promise` said so.
    let p = unsafe { v.cast::<PromiseRaw<Unknown>>() }?;
    let ok = tx.clone();
    p.then(move |_| {
        let _ = ok.send(Ok(()));
        Ok(())
    })?
    .catch(move |ctx: CallbackContext<Unknown>| {
        let _ = tx.send(Err(js_message(&ctx.value)));
        Ok(())
    })?;
    Ok(())
}

impl core::Sink for JsSink {
    fn write(
        &self,
        ctx: &core::SinkContext,
        batch: &core::RowBatch,
        rows: &[usize],
    ) -> core::Result<()> {
        let names: Vec<&str> = ctx.table.columns.iter().map(|(n, _)| n.as_str()).collect();
        let rows = rows
            .iter()
            .map(|&i| {
                let values: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(batch.row(i))
                    .map(|(n, c)| (n.to_string(), cell_value(c)))
                    .collect();
                SinkRow {
                    row: batch.row_number(i) as f64,
                    line: batch.meta(i).line.map(|l| l as f64),
                    values: serde_json::Value::Object(values),
                }
            })
            .collect();
        let arg = SinkBatch {
            job_id: ctx.job_id.clone(),
            dataset: ctx.dataset.clone(),
            schema_version: ctx.schema_version.clone(),
            rows,
        };
        let (tx, rx) = mpsc::channel();
        let status = self.f.call_with_return_value(
            arg,
            ThreadsafeFunctionCallMode::Blocking,
            move |ret, _env| settle(ret, tx),
        );
        if status != Status::Ok {
            return Err(core::Error::storage(format!(
                "the sink callback could not be called ({status})"
            )));
        }
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => Err(core::Error::storage(format!("sink: {m}"))),
            Err(_) => Err(core::Error::storage(
                "the sink callback never settled (the JavaScript environment is closing)",
            )),
        }
    }
}
