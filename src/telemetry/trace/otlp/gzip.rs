//! Request bodies as gzip (RFC 1952) from one compressor kept between exports.
//!
//! `flate2::write::GzEncoder` builds a compressor per body: its tables are
//! about 300 KB, allocated and zeroed for every export, which on Lambda is
//! every invocation. Reset, the same compressor allocates nothing.

use std::sync::{Mutex, PoisonError};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// No flags, no modification time, unknown OS: what `GzEncoder` writes too.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub(super) struct Gzip(Mutex<Compress>);

impl Gzip {
    /// The fastest level: on a shared core the span thread's gzip is most of
    /// the direct path's cost, and level 6 saves few bytes on protobuf.
    pub(super) fn new() -> Self {
        Self(Mutex::new(Compress::new(Compression::fast(), false)))
    }

    /// `data` as one gzip member: header, raw deflate, CRC-32 and length.
    pub(super) fn compress(&self, data: &[u8]) -> Result<Vec<u8>, flate2::CompressError> {
        let mut deflate = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        deflate.reset();
        let mut out = Vec::with_capacity(HEADER.len() + data.len() / 4 + 8);
        out.extend_from_slice(&HEADER);
        loop {
            // Writes only into spare capacity; total_in counts from the reset.
            let consumed = usize::try_from(deflate.total_in()).unwrap_or(data.len());
            let status =
                deflate.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)?;
            if status == Status::StreamEnd {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        let mut crc = Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the length modulo 2^32.
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .unwrap();
        plain
    }

    #[test]
    fn one_compressor_makes_valid_members_body_after_body() {
        let gzip = Gzip::new();
        let text = b"resourceSpans scopeSpans spans ".repeat(2_000);
        // Incompressible: the output outgrows the first guess and the buffer grows.
        let mut noise = Vec::with_capacity(50_000);
        let mut x: u32 = 2_463_534_242;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.push(x as u8);
        }
        for data in [&text[..], &noise[..], b"", &text[..100]] {
            let body = gzip.compress(data).unwrap();
            assert_eq!(gunzip(&body), data);
            assert_eq!(&body[..2], &[0x1f, 0x8b]);
        }
    }
}
