//! An incremental Server-Sent Events parser (the `text/event-stream` format
//! of the WHATWG HTML standard, §9.2).
//!
//! Why incremental: a streamed body arrives in chunks cut at arbitrary
//! bytes, mid-line and even mid-UTF-8 character. [`SseParser::push`] keeps
//! the unfinished tail and returns only complete events, so the gateway can
//! forward text as soon as each event is whole.
//!
//! Supported: `\n`, `\r\n` and `\r` line endings (also when a `\r\n` pair is
//! split across chunks), a leading byte-order mark, `data:` lines joined by
//! `\n`, the `event:` field, and `:` comment lines (keep-alives). `id:` and
//! `retry:` only matter for browser reconnection, so they are ignored.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent (the spec's `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Turns a byte stream into [`SseEvent`]s; see the module docs.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous byte ended a line with `\r`: a following `\n` belongs to
    /// that line ending.
    after_cr: bool,
    /// No line has been completed yet, so a byte-order mark may still lead.
    at_start: bool,
    event: Option<String>,
    data: String,
    /// A field line has been read since the last blank line.
    in_event: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: None,
            data: String::new(),
            in_event: false,
        }
    }

    /// Feeds the next chunk of the body and returns the events it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    /// Ends the stream. Returns `true` when it ended mid-event (a partial
    /// line, or fields not yet followed by a blank line); that event is
    /// discarded, as the spec says, and the caller should treat the stream
    /// as truncated.
    pub fn finish(self) -> bool {
        self.in_event || !self.line.is_empty()
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let bytes = std::mem::take(&mut self.line);
        // Decoding whole lines only is what makes mid-character splits safe.
        let mut line = String::from_utf8_lossy(&bytes).into_owned();
        if std::mem::take(&mut self.at_start) && line.starts_with('\u{feff}') {
            line.remove(0);
        }

        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        self.in_event = true;
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        self.in_event = false;
        let event = self.event.take();
        let mut data = std::mem::take(&mut self.data);
        // The spec dispatches nothing for an event without data lines.
        if data.is_empty() {
            return;
        }
        data.pop();
        events.push(SseEvent { event, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> (Vec<SseEvent>, bool) {
        let mut parser = SseParser::new();
        let events = parser.push(bytes);
        (events, parser.finish())
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    /// An Anthropic-style transcript with every feature the parser handles:
    /// BOM, comments, all three line endings, multi-line data, a field with
    /// no colon, no space after the colon, ignored fields and non-ASCII text.
    const TRANSCRIPT: &[u8] = "\u{feff}: keep-alive\n\
event: message_start\r\n\
data: {\"type\":\"message_start\"}\r\n\
\r\n\
event: content_block_delta\n\
data: {\"text\":\"Grüße, 世界 🌍\"}\n\
id: 7\n\
retry: 3000\n\
\n\
data:first\r\
data: second\r\
data\r\
\r\
event: ping\n\
\n\
data:  two spaces\n\
\n"
    .as_bytes();

    fn transcript_events() -> Vec<SseEvent> {
        vec![
            ev(Some("message_start"), r#"{"type":"message_start"}"#),
            ev(Some("content_block_delta"), r#"{"text":"Grüße, 世界 🌍"}"#),
            ev(None, "first\nsecond\n"),
            ev(None, " two spaces"),
        ]
    }

    #[test]
    fn parses_a_whole_transcript() {
        assert_eq!(parse_all(TRANSCRIPT), (transcript_events(), false));
    }

    #[test]
    fn same_events_for_every_split_point() {
        for split in 0..=TRANSCRIPT.len() {
            let mut parser = SseParser::new();
            let mut events = parser.push(&TRANSCRIPT[..split]);
            events.extend(parser.push(&TRANSCRIPT[split..]));
            assert_eq!(events, transcript_events(), "split at {split}");
            assert!(!parser.finish(), "split at {split}");
        }
    }

    #[test]
    fn same_events_for_every_pair_of_split_points() {
        for a in 0..=TRANSCRIPT.len() {
            for b in a..=TRANSCRIPT.len() {
                let mut parser = SseParser::new();
                let mut events = parser.push(&TRANSCRIPT[..a]);
                events.extend(parser.push(&TRANSCRIPT[a..b]));
                events.extend(parser.push(&TRANSCRIPT[b..]));
                assert_eq!(events, transcript_events(), "splits at {a}, {b}");
            }
        }
    }

    #[test]
    fn same_events_one_byte_at_a_time() {
        let mut parser = SseParser::new();
        let events: Vec<_> = TRANSCRIPT.iter().flat_map(|b| parser.push(&[*b])).collect();
        assert_eq!(events, transcript_events());
    }

    #[test]
    fn events_are_returned_as_soon_as_complete() {
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: a\n"), vec![]);
        assert_eq!(parser.push(b"\ndata: b"), vec![ev(None, "a")]);
        assert_eq!(parser.push(b"\n\n"), vec![ev(None, "b")]);
    }

    #[test]
    fn reports_a_stream_that_ends_mid_event() {
        for truncated in [
            &b"data: {\"a\":1}\n"[..],
            b"data: {\"a\":1}",
            b"event: message_stop",
            b"data: x\n\nevent: ping\n",
            b"data: x\n\n: partial comme",
        ] {
            let (_, mid_event) = parse_all(truncated);
            assert!(mid_event, "{:?}", String::from_utf8_lossy(truncated));
        }
        for clean in [&b""[..], b"data: x\n\n", b"data: x\r\n\r\n: bye\n", b"\n\n"] {
            let (_, mid_event) = parse_all(clean);
            assert!(!mid_event, "{:?}", String::from_utf8_lossy(clean));
        }
    }

    #[test]
    fn bom_is_only_stripped_at_the_start() {
        let (events, _) = parse_all("data: a\n\n\u{feff}data: b\n\n".as_bytes());
        // A BOM later on makes the line's field name `\u{feff}data`: ignored.
        assert_eq!(events, vec![ev(None, "a")]);
    }

    #[test]
    fn event_name_without_data_is_dropped_and_reset() {
        let (events, _) = parse_all(b"event: ping\n\ndata: x\n\n");
        assert_eq!(events, vec![ev(None, "x")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let (events, _) = parse_all(b"data: \xff\xfe ok\n\n");
        assert_eq!(events, vec![ev(None, "\u{fffd}\u{fffd} ok")]);
    }
}
