//! The one thing read from a successful export's response: an
//! `ExportTraceServiceResponse.partial_success`, the spans the receiver
//! refused although it answered 200.

/// Logs the refused spans, if the response names any. A body that is not
/// protobuf (some receivers answer `{}` or nothing) is ignored.
pub(super) fn report_partial_success(body: &[u8]) {
    let Some((rejected, message)) = partial_success(body) else {
        return;
    };
    if rejected > 0 || !message.is_empty() {
        tracing::warn!(
            rejected_spans = rejected,
            error_message = message,
            "the collector accepted the export but refused some spans"
        );
    }
}

/// `(rejected_spans, error_message)` of field 1, `None` if absent or malformed.
fn partial_success(body: &[u8]) -> Option<(i64, &str)> {
    let mut outer = Fields(body);
    let mut found = None;
    while let Some((field, value)) = outer.next_field()? {
        if let (1, Value::Bytes(inner)) = (field, value) {
            let (mut rejected, mut message) = (0, "");
            let mut inner = Fields(inner);
            while let Some((field, value)) = inner.next_field()? {
                match (field, value) {
                    (1, Value::Varint(n)) => rejected = n as i64,
                    (2, Value::Bytes(text)) => message = std::str::from_utf8(text).ok()?,
                    _ => {}
                }
            }
            found = Some((rejected, message));
        }
    }
    found
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// A protobuf message's fields, one by one.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    /// `Some(None)` at the end, `None` when the bytes are not protobuf.
    fn next_field(&mut self) -> Option<Option<(u64, Value<'a>)>> {
        if self.0.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let bytes = self.0.get(..len)?;
                self.0 = &self.0[len..];
                Value::Bytes(bytes)
            }
            5 => self.skip(4)?,
            _ => return None,
        };
        Some(Some((key >> 3, value)))
    }

    fn skip(&mut self, n: usize) -> Option<Value<'a>> {
        self.0 = self.0.get(n..)?;
        Some(Value::Fixed)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rejected_count_and_message() {
        // partial_success { rejected_spans: 3, error_message: "bad" }
        let body = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
        assert_eq!(partial_success(&body), Some((3, "bad")));
    }

    #[test]
    fn an_empty_or_foreign_body_names_nothing() {
        assert_eq!(partial_success(b""), None);
        assert_eq!(partial_success(b"{}"), None);
        assert_eq!(partial_success(&[0x0a, 0x09, 0x08]), None);
    }
}
