use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;
use model::Digest;

use crate::OciError;
use crate::verify::Hasher;

/// A blob's bytes as a stream of chunks, checked as they pass.
///
/// The stream never holds more than one chunk. It fails as soon as more bytes
/// arrive than the descriptor announced, and at the end yields a final error
/// item if the size or digest does not match; a consumer that has read to the
/// end without an error has read exactly the content the digest names.
pub struct BlobStream {
    inner: BoxStream<'static, Result<Bytes, OciError>>,
    what: String,
    expected_digest: Digest,
    expected_size: u64,
    seen: u64,
    hasher: Option<Hasher>,
}

impl BlobStream {
    /// Wraps raw chunks with size and digest verification against a descriptor.
    pub fn verified(
        what: String,
        expected_digest: Digest,
        expected_size: u64,
        chunks: BoxStream<'static, Result<Bytes, OciError>>,
    ) -> BlobStream {
        BlobStream {
            inner: chunks,
            what,
            hasher: Some(Hasher::new(expected_digest.algorithm())),
            expected_digest,
            expected_size,
            seen: 0,
        }
    }

    pub fn digest(&self) -> &Digest {
        &self.expected_digest
    }

    /// The size the descriptor announced (and the stream enforces).
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// Bytes delivered so far.
    pub fn bytes_read(&self) -> u64 {
        self.seen
    }
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("what", &self.what)
            .field("digest", &self.expected_digest)
            .field("size", &self.expected_size)
            .field("read", &self.seen)
            .finish()
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, OciError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // `hasher` is taken once the stream has ended or failed: it stays ended.
        if this.hasher.is_none() {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let total = this.seen.saturating_add(chunk.len() as u64);
                if total > this.expected_size {
                    this.hasher = None;
                    return Poll::Ready(Some(Err(OciError::SizeMismatch {
                        what: this.what.clone(),
                        expected: this.expected_size,
                        actual: total,
                    })));
                }
                this.seen = total;
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                let Some(hasher) = this.hasher.take() else {
                    return Poll::Ready(None);
                };
                if this.seen != this.expected_size {
                    return Poll::Ready(Some(Err(OciError::SizeMismatch {
                        what: this.what.clone(),
                        expected: this.expected_size,
                        actual: this.seen,
                    })));
                }
                let actual = hasher.finish();
                if actual != this.expected_digest {
                    return Poll::Ready(Some(Err(OciError::DigestMismatch {
                        what: this.what.clone(),
                        expected: this.expected_digest.clone(),
                        actual,
                    })));
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use model::DigestAlgorithm;

    use super::*;
    use crate::verify::digest_of;

    fn run(
        chunks: &[&'static [u8]],
        digest_of_content: &[u8],
        size: u64,
    ) -> (Vec<u8>, Option<String>) {
        let digest = digest_of(DigestAlgorithm::Sha256, digest_of_content);
        let items: Vec<Result<Bytes, OciError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        let mut stream = BlobStream::verified(
            "blob".into(),
            digest,
            size,
            futures_util::stream::iter(items).boxed(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut data = Vec::new();
            let mut error = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(b) => data.extend_from_slice(&b),
                    Err(e) => {
                        error = Some(e.to_string());
                        assert!(
                            stream.next().await.is_none(),
                            "stream must end after an error"
                        );
                        break;
                    }
                }
            }
            (data, error)
        })
    }

    #[test]
    fn verifies_as_it_streams() {
        // (chunks, content the digest is of, announced size, expected error)
        type Case = (
            &'static [&'static [u8]],
            &'static [u8],
            u64,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (&[b"hello ", b"world"], b"hello world", 11, None),
            (&[], b"", 0, None),
            (
                &[b"hello ", b"world"],
                b"hello there",
                11,
                Some("digest mismatch"),
            ),
            (
                &[b"hello"],
                b"hello",
                11,
                Some("descriptor says 11 bytes, got 5"),
            ),
            (
                &[b"hello ", b"world!!"],
                b"hello world!!",
                11,
                Some("descriptor says 11 bytes, got 13"),
            ),
        ];
        for (chunks, content, size, expected) in cases {
            let (data, err) = run(chunks, content, *size);
            match expected {
                None => {
                    assert_eq!(err, None);
                    assert_eq!(data, *content);
                }
                Some(msg) => {
                    let err = err.unwrap_or_default();
                    assert!(err.contains(msg), "{err}");
                }
            }
        }
    }
}
