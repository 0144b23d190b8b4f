//! Feeds an async stream of blob chunks to synchronous code (the layer walker
//! runs on a blocking thread) through a bounded channel: memory in flight is
//! at most `capacity` chunks, and a walker that stops early stops the download.

use std::io::{self, Read};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// The blocking end: implements [`Read`] over chunks sent by [`pump`].
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Creates a bounded channel; returns the reader and the sender to pass to [`pump`].
pub fn channel(capacity: usize) -> (mpsc::Sender<io::Result<Bytes>>, ChannelReader) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        tx,
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
    )
}

/// Copies `stream` into `tx`, calling `on_bytes` with each chunk's length.
/// Returns when the stream ends, fails (the error is forwarded to the reader)
/// or the reader is dropped.
pub async fn pump<S, E>(
    mut stream: S,
    tx: mpsc::Sender<io::Result<Bytes>>,
    mut on_bytes: impl FnMut(u64),
) where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| io::Error::other(e.to_string()));
        let failed = item.is_err();
        if let Ok(chunk) = &item {
            on_bytes(chunk.len() as u64);
        }
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_arrive_in_order_and_errors_surface() {
        let chunks: Vec<Result<Bytes, String>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"")),
            Ok(Bytes::from_static(b"world")),
            Err("digest mismatch".to_owned()),
        ];
        let (tx, mut reader) = channel(1);
        let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let t = total.clone();
        let producer = tokio::spawn(pump(futures_util::stream::iter(chunks), tx, move |n| {
            t.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }));
        let read = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let err = reader.read_to_end(&mut out).unwrap_err();
            (out, err.to_string())
        })
        .await
        .unwrap();
        producer.await.unwrap();
        assert_eq!(read.0, b"hello world");
        assert!(read.1.contains("digest mismatch"));
        assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 11);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_reader_stops_the_producer() {
        let endless =
            futures_util::stream::repeat_with(|| Ok::<_, String>(Bytes::from_static(b"x")));
        let (tx, reader) = channel(2);
        let producer = tokio::spawn(pump(endless, tx, |_| {}));
        drop(reader);
        tokio::time::timeout(std::time::Duration::from_secs(5), producer)
            .await
            .expect("producer stops")
            .unwrap();
    }
}
